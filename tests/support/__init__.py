"""What several test modules share: real data, scratch warehouses, a live service. Fixtures stay in
conftest.py; everything a test imports comes from here."""
