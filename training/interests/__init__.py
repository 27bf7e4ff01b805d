"""Per-user interest probabilities: a small multi-label classifier on what users read, with calibrated output.

A user's features are the mean vector of the content titles they read (from the warehouse's `int_text_embeddings`:
each title is embedded once, by dbt) plus their type; a linear multi-label layer (BCEWithLogits) scores every
interest, and one global Platt scaling fitted on held-out users turns scores into probabilities that mean what
they say (checked with a reliability table and ECE on other held-out users). Two baselines are scored on the same
test users: per-type popularity and title/label cosine similarity. Users without activity get the cold-start
estimate: the interest's prevalence among training users of their type.

One module per job, so scoring (the dbt model `user_interest_scores`) imports only `features` and `model`:
- `data`: what training reads from the warehouse (users, catalogue, activity, title vectors);
- `features`: the title-vector query and the feature vector, shared by training and scoring;
- `model`: InterestModel (net, Platt calibration, cold-start priors, its files);
- `train`: the training run (split, loop, baselines); `metrics`: precision@k, Brier, reliability, report;
- `artifacts`: the versioned artifact folder and LATEST; `cli`: `python -m training.interests`.
"""
