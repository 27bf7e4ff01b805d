"""A small retrieval corpus in BEIR layout (`corpus.jsonl`, `queries.jsonl`, `qrels.tsv`), like the TREC DL one.

Thirty everyday how-to and fact topics, each with its own vocabulary: one query per topic, a passage that answers
it directly (grade 3), six more passages on the topic (grade 2) and two near misses that share the query's words
but are about something else (grade 0), plus unjudged filler. Passage ids are shuffled so they say nothing about the
topic; titles are empty, as in MS MARCO. Small enough to commit and to test on, learnable by BM25 but not trivially.
Same seed, same bytes.
"""

from __future__ import annotations

import json
import random
from itertools import combinations
from pathlib import Path

# (query, the passage that answers it, five on-topic facts, a near miss sharing the query's words, a query word)
TOPICS: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = (
    (
        "how long should i boil an egg for a firm yolk",
        "For a firm yolk, boil the egg for nine to twelve minutes, then cool it in cold water.",
        (
            "Starting eggs in cold water and bringing them to a gentle boil means fewer cracked shells.",
            "Very fresh eggs are harder to peel than eggs that are a week old.",
            "A soft-boiled egg with a runny yolk needs about six minutes.",
            "Adding salt to the water does not stop an egg shell from cracking.",
            "An ice bath stops the cooking and keeps a green ring from forming around the yolk.",
        ),
        "Egg tempera paint mixes pigment with yolk, and painters used it long before oil paint.",
        "yolk",
    ),
    (
        "how do i get a red wine stain out of a carpet",
        "Blot the red wine stain with a clean cloth, cover it with salt or baking soda, and vacuum once it dries.",
        (
            "Rubbing a wine stain spreads it deeper into the carpet fibres.",
            "A mix of dish soap, white vinegar and warm water lifts most fresh carpet stains.",
            "Hot water can set a stain, so use cold or lukewarm water on carpet.",
            "Test any cleaner on a hidden patch of carpet first to check the colour holds.",
            "Old, dried stains on a carpet may need an enzyme cleaner or a professional.",
        ),
        "Red wine grapes such as merlot ripen later in cool years, and the harvest often moves into October.",
        "carpet",
    ),
    (
        "how often should i water a houseplant",
        "Most houseplants need water once a week, when the top two centimetres of soil feel dry.",
        (
            "Overwatering is the most common way houseplants die, because the roots rot.",
            "Pots need drainage holes so extra water can escape.",
            "Succulents and cacti can go two or three weeks between waterings.",
            "Houseplants need less water in winter, when they grow slowly.",
            "Yellow, soft leaves often mean a plant gets too much water.",
        ),
        "A water main burst on the high street, and the council warned residents to expect low pressure for a day.",
        "houseplant",
    ),
    (
        "how do i check the tyre pressure on my car",
        "Unscrew the valve cap, press a tyre pressure gauge onto the valve and read the number while the tyres are cold.",
        (
            "The right tyre pressure for your car is printed inside the driver's door or in the manual.",
            "Under-inflated tyres wear faster and use more fuel.",
            "Most petrol stations have an air pump that shows the pressure as you inflate a tyre.",
            "Check tyre pressure once a month and before a long trip.",
            "Tyre pressure drops in cold weather, about one psi for every ten degrees.",
        ),
        "High blood pressure often has no symptoms, so doctors check it at routine visits.",
        "tyre",
    ),
    (
        "how do i feed a sourdough starter",
        "Feed a sourdough starter by discarding half of it and mixing in equal weights of fresh flour and water every day.",
        (
            "A healthy sourdough starter doubles in size within six to eight hours after feeding.",
            "Starters kept in the fridge only need feeding once a week.",
            "Whole rye flour makes a starter more active than white flour.",
            "A layer of grey liquid on top means the starter is hungry.",
            "Bake sourdough bread when the starter is bubbly and at its peak.",
        ),
        "The starter motor turns the car engine over, and a weak battery can make it click.",
        "sourdough",
    ),
    (
        "how many hours of sleep does an adult need",
        "Adults need seven to nine hours of sleep a night to feel rested and stay healthy.",
        (
            "Going to bed and waking at the same time each day improves sleep quality.",
            "Caffeine in the afternoon can keep you awake at night.",
            "Teenagers need more sleep than adults, about eight to ten hours.",
            "Screens before bed delay sleep because their light suppresses melatonin.",
            "Long-term lack of sleep raises the risk of heart disease and weight gain.",
        ),
        "Sleep mode on a laptop saves power while keeping open documents ready for hours.",
        "sleep",
    ),
    (
        "how do i clean and oil a bike chain",
        "Scrub the bike chain with degreaser and a brush, dry it, then put a drop of chain oil on each link and wipe off the excess.",
        (
            "A dirty bike chain wears out the cassette and chainrings faster.",
            "Wet lube suits rainy rides, while dry lube attracts less dust in summer.",
            "Shift to the smallest cog before cleaning so the chain sits loose.",
            "A chain checker tool shows when the chain has stretched and needs replacing.",
            "Clean the chain every few hundred kilometres or after a muddy ride.",
        ),
        "A supermarket chain opened three new stores and plans to hire local staff to clean and stock them.",
        "bike",
    ),
    (
        "how do i renew my passport",
        "Renew your passport by filling in the renewal form online or at the post office, adding a new photo and your old passport, and paying the fee.",
        (
            "Passport renewal usually takes three to six weeks, longer before the summer holidays.",
            "Many countries require a passport to be valid for six months after your arrival date.",
            "Passport photos must have a plain background and a neutral expression.",
            "A fast-track passport service costs more but can return it within a week.",
            "Keep a copy of your passport number in case it is lost abroad.",
        ),
        "The library asks members to renew borrowed books before the due date to avoid fines.",
        "passport",
    ),
    (
        "how do i stop pipes freezing in winter",
        "Stop pipes freezing by insulating them with foam lagging and keeping the heating on low when you are away in winter.",
        (
            "Pipes in lofts, garages and outside walls are most at risk of freezing.",
            "Let a tap drip slightly on very cold nights so water keeps moving through the pipes.",
            "Know where your stopcock is so you can turn off the water if a pipe bursts.",
            "Thaw a frozen pipe slowly with a hairdryer, never with an open flame.",
            "Open the cabinet doors under sinks to let warm air reach the pipes.",
        ),
        "Bagpipes and drums lead the parade at many winter festivals in Scotland.",
        "freezing",
    ),
    (
        "what should i do for a minor burn",
        "Cool a minor burn under cool running water for twenty minutes, then cover it loosely with cling film or a clean dressing.",
        (
            "Do not put ice, butter or toothpaste on a burn.",
            "Remove rings or tight clothing near a burn before the skin swells.",
            "Seek medical help if a burn is larger than your hand or is on the face.",
            "Blisters protect the healing skin, so leave them unbroken.",
            "Painkillers such as paracetamol can ease the sting of a minor burn.",
        ),
        "Burn the files to a disc before you reinstall the operating system, and do a minor update afterwards.",
        "minor",
    ),
    (
        "how do i unblock a kitchen sink",
        "Pour boiling water down the sink and use a plunger; if the kitchen sink stays blocked, clear the trap underneath.",
        (
            "Grease poured down the sink hardens and causes most kitchen blockages.",
            "A mix of baking soda and vinegar can loosen a slow drain.",
            "Put a bucket under the trap before you unscrew it.",
            "A drain snake reaches blockages deeper in the pipe.",
            "A sink strainer stops food scraps from entering the drain.",
        ),
        "The kitchen garden at the manor grows herbs, beans and old apple varieties.",
        "unblock",
    ),
    (
        "how do i make coffee in a french press",
        "Add coarse ground coffee to the french press, pour in water just off the boil, wait four minutes and press the plunger down slowly.",
        (
            "Use about one tablespoon of coffee for every hundred millilitres of water.",
            "Fine coffee grounds slip through the mesh and make the cup gritty.",
            "Pour the coffee out straight after pressing, or it keeps brewing and turns bitter.",
            "Water at 93 to 96 degrees extracts the best flavour from coffee.",
            "Rinse the press and its mesh filter after each use so oils do not go stale.",
        ),
        "The french press covered the election with a special edition on every front page.",
        "coffee",
    ),
    (
        "what is the best way to learn a new language",
        "The best way to learn a new language is daily practice: short vocabulary reviews, listening, and speaking with native speakers.",
        (
            "Spaced repetition apps help new vocabulary stay in long-term memory.",
            "Watching films with subtitles in the language you learn trains your ear.",
            "Making mistakes while speaking is a normal part of learning a language.",
            "Fifteen minutes of practice a day works better than one long session a week.",
            "The most common thousand words cover most everyday conversation.",
        ),
        "A programming language such as Python is the best first choice for many new developers.",
        "language",
    ),
    (
        "how often should i walk my dog",
        "Most dogs need a walk at least twice a day, thirty minutes to two hours in total depending on the breed.",
        (
            "Working breeds like collies need more exercise than small lap dogs.",
            "Puppies need short walks, about five minutes for each month of age.",
            "Older dogs still benefit from a gentle daily walk.",
            "A bored dog that is not walked enough may chew the furniture.",
            "Avoid walking a dog on hot pavements that can burn its paws.",
        ),
        "The walk to the summit takes three hours, and the path is steep near the top.",
        "dog",
    ),
    (
        "how can i make my phone battery last longer",
        "To make a phone battery last longer, lower the screen brightness, turn off background app refresh and use battery saver mode.",
        (
            "Keeping a phone battery between 20 and 80 percent charged slows its ageing.",
            "Heat damages lithium batteries, so do not leave a phone in a hot car.",
            "Apps that track your location drain the battery fastest.",
            "Dark mode saves battery on phones with OLED screens.",
            "A battery health setting shows how much capacity the phone has lost.",
        ),
        "An artillery battery fired a salute from the castle walls that lasted longer than planned.",
        "phone",
    ),
    (
        "how do i cook fluffy rice",
        "For fluffy rice, rinse it until the water runs clear, cook one cup of rice in one and a half cups of water, and let it rest covered for ten minutes.",
        (
            "Rinsing rice removes surface starch that makes the grains sticky.",
            "Keep the lid on while rice simmers so the steam cooks the grains.",
            "Brown rice needs more water and about twice as long to cook as white rice.",
            "Fluff the rice with a fork before serving.",
            "Cooked rice should be cooled quickly and eaten within a day.",
        ),
        "Rice University in Houston is known for its engineering school and its fluffy campus cats.",
        "rice",
    ),
    (
        "how can i lower my electricity bill",
        "Lower your electricity bill by switching to LED bulbs, turning appliances off at the wall and washing clothes at thirty degrees.",
        (
            "Devices left on standby add a noticeable amount to a yearly electricity bill.",
            "Comparing tariffs and switching supplier often cuts the bill.",
            "A smart meter shows which appliances use the most electricity.",
            "Tumble dryers and electric heaters are among the most expensive appliances to run.",
            "Draught-proofing windows keeps heat in and lowers heating costs.",
        ),
        "The bill to lower the voting age passed its second reading in parliament.",
        "electricity",
    ),
    (
        "how do i paint a room",
        "To paint a room, wash and fill the walls, tape the edges, cut in around the corners with a brush, then roll on two thin coats of paint.",
        (
            "Cover the floor and furniture with dust sheets before you paint.",
            "A primer helps paint stick to new plaster and covers dark colours.",
            "Let the first coat of paint dry for a few hours before adding the second.",
            "One litre of paint covers about ten square metres of wall.",
            "Paint the ceiling first so drips do not spoil finished walls.",
        ),
        "The museum room of Dutch paintings reopens after a long restoration of its paint and frames.",
        "paint",
    ),
    (
        "what helps a cold go away faster",
        "Rest, plenty of fluids and paracetamol for the aches help you get over a cold, which usually goes away in seven to ten days.",
        (
            "Antibiotics do not work against a cold because it is caused by a virus.",
            "Washing hands often stops a cold spreading to others.",
            "Honey and lemon in warm water can soothe a sore throat.",
            "See a doctor if a cold lasts more than three weeks.",
            "Zinc lozenges may shorten a cold slightly if taken early.",
        ),
        "A cold front brings sudden rain and gusty winds before it moves away to the east.",
        "faster",
    ),
    (
        "how do i remove rust from tools",
        "Soak rusty tools in white vinegar overnight, scrub the rust off with steel wool, then dry them and wipe on a thin coat of oil.",
        (
            "Rust forms when iron meets water and oxygen.",
            "Storing tools in a dry shed with silica gel packs prevents rust.",
            "A wire brush on a drill removes heavy rust quickly.",
            "A baking soda paste works on light rust spots.",
            "Oil the blades of garden tools before storing them for winter.",
        ),
        "Rust is also a programming language, and its tools promise memory safety without a garbage collector.",
        "remove",
    ),
    (
        "how do i prepare for a job interview",
        "Prepare for a job interview by researching the company, practising answers to common questions and preparing questions of your own.",
        (
            "The STAR method helps structure interview answers about past experience.",
            "Plan your journey so you arrive at the interview ten minutes early.",
            "Dress one step smarter than the company's everyday style.",
            "Send a short thank-you email after the interview.",
            "Interviewers often ask why you want the job and what your strengths are.",
        ),
        "The job of a lighthouse keeper was to prepare the lamp and keep it burning through the night.",
        "interview",
    ),
    (
        "how do i keep cut flowers fresh",
        "Keep cut flowers fresh by trimming the stems at an angle, changing the vase water every two days and keeping them out of direct sun.",
        (
            "Remove leaves that would sit below the water line, because they rot.",
            "Flower food sachets contain sugar and a little bleach to slow bacteria.",
            "Ripening fruit releases ethylene gas that makes flowers wilt faster.",
            "Tulips keep growing in the vase and bend towards the light.",
            "Roses last longer if their stems are cut under water.",
        ),
        "The flower market in Amsterdam floats on barges, and stalls keep fresh bread and cheese too.",
        "flowers",
    ),
    (
        "how can i start running as a beginner",
        "Start running with a walk-run plan: alternate one minute of running with two minutes of walking, three times a week, and build up slowly.",
        (
            "Running shoes that fit your stride reduce the risk of injury.",
            "A beginner should add no more than ten percent to their weekly running distance.",
            "Running at a pace where you can still talk builds endurance.",
            "Rest days let your muscles recover and get stronger.",
            "A couch to 5k running plan takes about nine weeks.",
        ),
        "The program kept running in the background because a beginner's bug left it in an endless loop.",
        "beginner",
    ),
    (
        "how do i improve my credit score",
        "Improve your credit score by paying every bill on time, keeping credit card balances low and registering on the electoral roll.",
        (
            "Missed payments stay on a credit file for several years.",
            "Applying for a lot of credit in a short time lowers your score.",
            "Check your credit report for mistakes and ask the agency to correct them.",
            "Using less than thirty percent of your credit limit helps your score.",
            "A long history of well-managed accounts raises a credit score.",
        ),
        "The film score was written by a young composer, and the orchestra recorded it in a week.",
        "credit",
    ),
    (
        "how do i iron a shirt",
        "Iron a shirt on the setting for its fabric: the collar first, then the cuffs and sleeves, then the back and front panels.",
        (
            "A slightly damp shirt is easier to iron than a bone-dry one.",
            "Cotton and linen need a hot iron, while polyester needs a cool one.",
            "Hang the shirt straight after ironing so it does not crease again.",
            "Steam from the iron helps remove stubborn wrinkles.",
            "Iron dark shirts inside out to avoid shiny marks.",
        ),
        "Iron deficiency can leave you tired, and spinach and lentils are good sources of iron.",
        "shirt",
    ),
    (
        "why is the sky blue",
        "The sky is blue because air molecules scatter short blue wavelengths of sunlight much more than red ones.",
        (
            "This scattering of sunlight by air is called Rayleigh scattering.",
            "At sunset light crosses more air, so more blue is scattered away and the sky turns red and orange.",
            "On the Moon there is no air, so the sky looks black even in daylight.",
            "Violet light is scattered even more, but our eyes are less sensitive to it.",
            "Clouds look white because water droplets scatter all colours equally.",
        ),
        "Blue cheese gets its blue veins from a mould that is added to the milk.",
        "sky",
    ),
    (
        "how do i start a compost heap",
        "Start a compost heap by layering green waste like vegetable peelings with brown waste like cardboard and dry leaves, and turn it every few weeks.",
        (
            "Do not compost meat, dairy or cooked food, as they attract rats.",
            "A compost heap should feel as damp as a wrung-out sponge.",
            "Compost is ready in six to twelve months, when it is dark and crumbly.",
            "Turning the heap adds air and speeds up decomposition.",
            "Worms and microbes break the waste down into compost.",
        ),
        "A heap data structure keeps the smallest item at the start, so a program can find it quickly.",
        "compost",
    ),
    (
        "how do i connect bluetooth headphones to my laptop",
        "Put the headphones in pairing mode, open the Bluetooth settings on the laptop, choose add device and select the headphones from the list.",
        (
            "Pairing mode is usually turned on by holding the power button until a light flashes.",
            "If the headphones do not appear, turn Bluetooth off and on again on the laptop.",
            "Headphones paired with a phone nearby may connect to it instead of the laptop.",
            "Updating the laptop's Bluetooth driver can fix audio dropouts.",
            "Forget the device and pair it again if the sound is choppy.",
        ),
        "Harald Bluetooth was a Danish king, and the wireless standard that can connect a laptop was named after him.",
        "headphones",
    ),
    (
        "how do i get over jet lag",
        "Get over jet lag by switching to local time straight away, getting daylight in the morning and staying awake until the local bedtime.",
        (
            "Jet lag is usually worse when flying east than when flying west.",
            "The body clock adjusts by about one hour per day.",
            "Drink water and avoid alcohol on a long flight.",
            "A nap of under thirty minutes helps without ruining the night.",
            "Melatonin taken at the local bedtime helps some travellers with jet lag.",
        ),
        "A jet engine sucks in air, compresses it, burns fuel and pushes hot gas out over the back.",
        "lag",
    ),
    (
        "how do i create a strong password",
        "Create a strong password from at least three random words or twelve or more mixed characters, and never reuse it on another site.",
        (
            "A password manager stores a different strong password for every account.",
            "Two-factor authentication protects an account even if the password leaks.",
            "Avoid names, birthdays and common words like password123.",
            "Change a password straight away if a site reports a data breach.",
            "Long passwords are harder to crack than short complex ones.",
        ),
        "The password at the castle gate was changed every night by the captain of the guard.",
        "create",
    ),
)

# second near miss: only the query word in common
NEAR_MISS_TEMPLATES = (
    "A board game called {word} sold out in several shops before the holidays.",
    "{word} is the title of a short film that premiered at a small festival last year.",
    "The band released a new single called {word} after a long break.",
    "A racehorse named {word} won by two lengths at the spring meeting.",
)

# unjudged filler on nobody's topic
FILLER_NAMES = ("Ana", "Tom", "Priya", "Kofi", "Lena", "Marco", "Yuki", "Sara", "Omar", "Ingrid")
FILLER_SUBJECTS = (
    "medieval maps", "railway history", "the town choir", "local birdsong", "old postcards",
    "the harbour lighthouse", "village festivals", "stone bridges", "the chess club", "folk songs",
)
FILLER_TEMPLATES = (
    "{name} wrote a short essay about {subject} for the community newsletter.",
    "{name} gave a talk on {subject} at the library, and about forty people came.",
    "A small exhibition on {subject}, put together by {name}, opens next month.",
)

ON_TOPIC_PASSAGES = 6  # per topic, grade 2
FILLER_PASSAGES = 30


def _on_topic_passages(facts: tuple[str, ...], rng: random.Random) -> list[str]:
    """Distinct 1-3 fact passages, so on-topic passages overlap like real ones without being duplicates."""
    candidates = [combo for size in (1, 2, 3) for combo in combinations(range(len(facts)), size)]
    chosen = rng.sample(candidates, ON_TOPIC_PASSAGES)
    passages = []
    for combo in chosen:
        order = list(combo)
        rng.shuffle(order)
        passages.append(" ".join(facts[i] for i in order))
    return passages


def write_retrieval_corpus(folder: Path, seed: int = 0) -> None:
    rng = random.Random(seed)
    passages: list[tuple[str, str | None, int]] = []  # (text, query id or None, grade)
    queries: list[tuple[str, str]] = []
    for number, (query, answer, facts, near_miss, word) in enumerate(TOPICS, start=1):
        query_id = f"q{number:02d}"
        queries.append((query_id, query))
        if rng.random() < 0.5:  # sometimes the answer comes with a supporting fact, as in real passages
            answer = f"{answer} {rng.choice(facts)}"
        passages.append((answer, query_id, 3))
        passages.extend((text, query_id, 2) for text in _on_topic_passages(facts, rng))
        passages.append((near_miss, query_id, 0))
        template = rng.choice(NEAR_MISS_TEMPLATES)
        passages.append((template.format(word=word.capitalize()), query_id, 0))
    fillers: set[str] = set()
    while len(fillers) < FILLER_PASSAGES:
        template = rng.choice(FILLER_TEMPLATES)
        fillers.add(template.format(name=rng.choice(FILLER_NAMES), subject=rng.choice(FILLER_SUBJECTS)))
    passages.extend((text, None, 0) for text in sorted(fillers))
    rng.shuffle(passages)

    folder.mkdir(parents=True, exist_ok=True)
    qrels: list[tuple[str, str, int]] = []
    with open(folder / "corpus.jsonl", "w", encoding="utf-8", newline="\n") as handle:
        for number, (text, query_id, grade) in enumerate(passages, start=1):
            passage_id = f"p{number:04d}"
            handle.write(json.dumps({"_id": passage_id, "title": "", "text": text}) + "\n")
            if query_id is not None:
                qrels.append((query_id, passage_id, grade))
    with open(folder / "queries.jsonl", "w", encoding="utf-8", newline="\n") as handle:
        for query_id, text in queries:
            handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    with open(folder / "qrels.tsv", "w", encoding="utf-8", newline="\n") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        for query_id, passage_id, grade in sorted(qrels):
            handle.write(f"{query_id}\t{passage_id}\t{grade}\n")
