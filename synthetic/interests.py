"""Synthetic user-interest data with the real feed's shape: `users.csv`, `interests.csv`, `user_activity.csv`.

The original interaction data is unavailable, so this makes structured stand-ins a model can learn from and a wrong
model scores badly on. About 300 job-title-like interests ("Pastry chef", "Data analyst") come from 46 fields; each
field has a pool of topic words and every interest draws 8 of them, so interests in one field share vocabulary.
Each interest has its own catalogue of content titles built from templates and its topic words. Users hold 1-5
interests, picked with a Zipf-like popularity that B2B users tilt towards professional fields and B2C users towards
hobby fields; they consume 5-40 titles, about 75% from their interests' catalogues and the rest noise (other
interests' titles, generic platform content). About 5% of users have no activity row (cold start).
Same arguments, same bytes.
"""

from __future__ import annotations

import bisect
import csv
import json
import random
import uuid
from itertools import accumulate
from pathlib import Path

B2B, B2C, MIXED = "B2B", "B2C", "mixed"

# field -> (lean, interest labels, topic words). Topic words are lower case except acronyms and names.
FIELDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "accounting": (B2B, (
        "Accounting technician", "Accounts payable clerk", "Payroll administrator", "Tax advisor", "Auditor",
        "Management accountant", "Bookkeeper", "Chartered accountant",
    ), (
        "ledger", "audit trail", "payroll", "tax return", "balance sheet", "invoices", "accruals", "depreciation",
        "cash flow", "VAT", "reconciliation", "expense reports", "year-end close", "cost centres",
    )),
    "finance": (B2B, (
        "Financial analyst", "Investment banker", "Credit analyst", "Treasury manager", "Risk analyst",
        "Loan officer", "Portfolio manager", "Compliance officer",
    ), (
        "interest rates", "bond yields", "credit risk", "equity research", "portfolio construction", "derivatives",
        "liquidity", "capital markets", "hedging", "valuation", "due diligence", "asset allocation", "mergers",
        "stress tests",
    )),
    "law": (B2B, (
        "Corporate lawyer", "Paralegal", "Legal secretary", "Contract manager", "Employment lawyer",
        "Patent attorney", "Legal counsel", "Court clerk",
    ), (
        "contract law", "litigation", "intellectual property", "GDPR", "case law", "negotiation", "employment law",
        "trademarks", "arbitration", "legal drafting", "liability", "regulation", "court hearings", "legal fees",
    )),
    "software": (B2B, (
        "Software developer", "Backend engineer", "Frontend developer", "Mobile developer", "DevOps engineer",
        "QA tester", "Software architect", "Site reliability engineer",
    ), (
        "code review", "unit testing", "microservices", "API design", "refactoring", "continuous integration",
        "Python", "JavaScript", "containers", "technical debt", "version control", "debugging", "Kubernetes",
        "serverless functions",
    )),
    "data": (B2B, (
        "Data analyst", "Data scientist", "Data engineer", "Machine learning engineer",
        "Business intelligence analyst", "Statistician", "Database administrator", "Analytics manager",
    ), (
        "SQL", "dashboards", "data pipelines", "regression", "machine learning", "data quality", "A/B testing",
        "data warehouses", "forecasting", "feature engineering", "visualisation", "spreadsheets", "dbt models",
        "churn analysis",
    )),
    "cybersecurity": (B2B, (
        "Security analyst", "Penetration tester", "Security engineer", "Incident responder",
        "Information security manager", "Security auditor", "SOC analyst", "Cryptographer",
    ), (
        "phishing", "ransomware", "firewalls", "encryption", "zero trust", "threat modelling",
        "vulnerability scanning", "password policy", "incident response", "access control", "malware",
        "security awareness", "patch management", "SIEM",
    )),
    "it infrastructure": (B2B, (
        "Network engineer", "Systems administrator", "IT support technician", "Cloud engineer", "Help desk analyst",
        "IT manager", "Network technician", "Infrastructure architect",
    ), (
        "networking", "routers", "server maintenance", "backups", "cloud migration", "virtualisation",
        "help desk tickets", "Wi-Fi", "data centres", "disaster recovery", "Active Directory", "monitoring",
        "VPN", "storage arrays",
    )),
    "civil engineering": (B2B, (
        "Civil engineer", "Structural engineer", "Geotechnical engineer", "Site engineer", "Transport planner",
        "Quantity surveyor", "Water engineer", "Bridge inspector",
    ), (
        "concrete", "load calculations", "foundations", "road design", "drainage", "surveying", "steel structures",
        "building codes", "soil mechanics", "bridges", "earthworks", "tunnels", "stormwater", "retaining walls",
    )),
    "mechanical engineering": (B2B, (
        "Mechanical engineer", "Maintenance technician", "CAD designer", "HVAC engineer", "Automotive engineer",
        "Mechanical fitter", "Design engineer", "Reliability engineer",
    ), (
        "CAD models", "thermodynamics", "gearboxes", "HVAC systems", "fluid dynamics", "tolerances", "prototyping",
        "preventive maintenance", "pumps", "materials testing", "3D printing", "vibration analysis", "engines",
        "bearings",
    )),
    "electrical engineering": (B2B, (
        "Electrical engineer", "Electrician", "Electronics technician", "Power systems engineer",
        "Control systems engineer", "Instrumentation technician", "Embedded systems engineer", "Solar installer",
    ), (
        "circuit design", "wiring", "transformers", "PLC programming", "the power grid", "sensors",
        "microcontrollers", "solar panels", "switchgear", "batteries", "signal processing", "electrical safety",
        "electric motors", "PCB layout",
    )),
    "marketing": (B2B, (
        "Marketing manager", "Digital marketer", "SEO specialist", "Content strategist", "Brand manager",
        "Social media manager", "Marketing analyst", "Copywriter",
    ), (
        "SEO", "brand awareness", "email campaigns", "content calendars", "social media", "conversion rates",
        "customer personas", "paid search", "marketing funnels", "influencer marketing", "landing pages",
        "brand voice", "market research", "ad budgets",
    )),
    "sales": (B2B, (
        "Sales representative", "Account manager", "Sales manager", "Business development manager",
        "Sales engineer", "Key account manager", "Inside sales agent", "Retail sales assistant",
    ), (
        "cold calling", "sales pipelines", "negotiation", "CRM", "lead generation", "closing deals", "quotas",
        "prospecting", "upselling", "sales forecasts", "customer objections", "territory planning", "proposals",
        "pricing",
    )),
    "human resources": (B2B, (
        "HR manager", "Recruiter", "HR assistant", "Talent acquisition specialist",
        "Learning and development manager", "Compensation analyst", "HR business partner", "Payroll specialist",
    ), (
        "recruitment", "onboarding", "performance reviews", "employee engagement", "job interviews",
        "employee benefits", "workplace culture", "remote work", "training plans", "diversity", "retention",
        "employment contracts", "appraisals", "succession planning",
    )),
    "project management": (B2B, (
        "Project manager", "Programme manager", "Scrum master", "Project coordinator", "Product owner",
        "PMO analyst", "Agile coach", "Delivery manager",
    ), (
        "Gantt charts", "sprint planning", "stakeholders", "risk registers", "scope creep", "agile", "budgets",
        "milestones", "retrospectives", "kanban", "resource planning", "project charters", "deadlines",
        "status reports",
    )),
    "logistics": (B2B, (
        "Logistics coordinator", "Supply chain analyst", "Warehouse manager", "Freight forwarder",
        "Procurement officer", "Inventory controller", "Fleet manager", "Purchasing manager",
    ), (
        "inventory", "freight", "warehousing", "last mile delivery", "shipping containers", "supplier contracts",
        "demand planning", "customs", "fleet management", "procurement", "stock levels", "pallets", "lead times",
        "distribution centres",
    )),
    "manufacturing": (B2B, (
        "Production manager", "Quality inspector", "Process engineer", "Machine operator",
        "Lean manufacturing specialist", "Plant manager", "Quality assurance manager", "Production planner",
    ), (
        "lean manufacturing", "quality control", "assembly lines", "Six Sigma", "production scheduling", "defects",
        "ISO 9001", "automation", "kaizen", "the shop floor", "throughput", "root cause analysis", "tooling",
        "safety audits",
    )),
    "healthcare": (MIXED, (
        "Registered nurse", "Nurse practitioner", "Healthcare assistant", "Paramedic", "Physiotherapist",
        "Occupational therapist", "Medical receptionist", "Midwife",
    ), (
        "patient care", "triage", "infection control", "medication", "vital signs", "rehabilitation",
        "care plans", "first aid", "wound care", "night shifts", "clinical notes", "patient safety",
        "mobility aids", "burnout",
    )),
    "pharmacy": (B2B, (
        "Pharmacist", "Pharmacy technician", "Clinical research associate", "Lab technician", "Biochemist",
        "Regulatory affairs specialist", "Pharmaceutical sales representative", "Microbiologist",
    ), (
        "clinical trials", "dosage", "prescriptions", "lab safety", "drug interactions", "vaccines", "microscopy",
        "pipetting", "sample analysis", "regulatory approval", "generic drugs", "pharmacology", "lab notebooks",
        "sterile technique",
    )),
    "insurance": (B2B, (
        "Insurance underwriter", "Claims adjuster", "Actuary", "Insurance broker", "Loss adjuster",
        "Claims handler", "Risk manager", "Reinsurance analyst",
    ), (
        "premiums", "claims", "underwriting", "actuarial tables", "policy wording", "risk assessment",
        "deductibles", "fraud detection", "catastrophe models", "reinsurance", "coverage", "loss ratios",
        "mortality tables", "exclusions",
    )),
    "architecture": (B2B, (
        "Architect", "Architectural technologist", "Interior architect", "Urban planner", "Landscape architect",
        "Building surveyor", "BIM coordinator", "Conservation architect",
    ), (
        "floor plans", "BIM", "sustainable design", "zoning", "facades", "daylighting", "planning permission",
        "building materials", "urban design", "heritage buildings", "architectural sketches", "3D renderings",
        "site analysis", "green roofs",
    )),
    "construction": (B2B, (
        "Construction manager", "Site manager", "Carpenter", "Bricklayer", "Plumber", "Roofer",
        "Construction estimator", "Health and safety officer",
    ), (
        "scaffolding", "bricklaying", "plumbing", "roofing", "timber framing", "site safety", "cost estimates",
        "building regulations", "power tools", "insulation", "concrete pouring", "subcontractors",
        "build schedules", "plastering",
    )),
    "management": (B2B, (
        "Management consultant", "Operations manager", "Business analyst", "Strategy consultant",
        "Chief executive", "General manager", "Office manager", "Change manager",
    ), (
        "strategy", "business models", "change management", "KPIs", "operating models", "process mapping",
        "leadership", "board meetings", "cost reduction", "digital transformation", "benchmarking",
        "decision making", "OKRs", "growth plans",
    )),
    "customer service": (B2B, (
        "Customer service representative", "Call centre agent", "Customer success manager", "Support team leader",
        "Complaints handler", "Technical support agent", "Customer experience manager", "Receptionist",
    ), (
        "customer satisfaction", "complaints", "live chat", "call scripts", "ticket queues", "net promoter score",
        "empathy", "response times", "self-service", "customer retention", "escalations", "knowledge bases",
        "feedback surveys", "service levels",
    )),
    "public sector": (B2B, (
        "Policy advisor", "Civil servant", "Local government officer", "Town planner", "Social worker",
        "Caseworker", "Public health officer", "Grants officer",
    ), (
        "public policy", "public budgets", "public consultations", "social care", "social housing", "grants",
        "council services", "legislation", "public health", "community outreach", "procurement rules",
        "transparency", "elections", "case management",
    )),
    "cooking": (B2C, (
        "Pastry chef", "Home cook", "Sous chef", "Baker", "Private chef", "Line cook", "Food blogger",
        "Cake decorator",
    ), (
        "sourdough", "pastry", "knife skills", "slow cooking", "spices", "fresh pasta", "soups", "meal prep",
        "baking", "sauces", "grilling", "fermentation", "desserts", "bread",
    )),
    "fitness": (B2C, (
        "Personal trainer", "Fitness instructor", "Strength coach", "Marathon runner", "Pilates instructor",
        "CrossFit athlete", "Bodybuilder", "Sports coach",
    ), (
        "strength training", "running", "HIIT workouts", "stretching", "protein shakes", "muscle recovery",
        "marathon training", "kettlebells", "core workouts", "squats", "cardio", "home workouts",
        "mobility drills", "personal bests",
    )),
    "travel": (B2C, (
        "Travel writer", "Backpacker", "Travel agent", "Tour guide", "Digital nomad", "Cruise enthusiast",
        "Flight attendant", "Travel photographer",
    ), (
        "backpacking", "cheap flights", "packing lists", "city breaks", "road trips", "hostels",
        "travel insurance", "itineraries", "jet lag", "island hopping", "train travel", "visas", "street food",
        "hidden gems",
    )),
    "gardening": (B2C, (
        "Gardener", "Landscape gardener", "Allotment grower", "Florist", "Horticulturist", "Tree surgeon",
        "Garden designer", "Beekeeper",
    ), (
        "tomatoes", "compost", "raised beds", "pruning", "seedlings", "lawn care", "perennials", "garden pests",
        "watering", "herbs", "greenhouses", "roses", "soil health", "spring bulbs",
    )),
    "photography": (B2C, (
        "Photographer", "Wedding photographer", "Photo editor", "Videographer", "Portrait photographer",
        "Wildlife photographer", "Drone pilot", "Camera operator",
    ), (
        "aperture", "exposure", "camera lenses", "studio lighting", "portraits", "composition", "photo editing",
        "golden hour", "tripods", "landscapes", "black and white", "shutter speed", "the night sky",
        "street photography",
    )),
    "music": (B2C, (
        "Musician", "Guitar teacher", "Music producer", "Sound engineer", "Singer", "DJ", "Piano teacher",
        "Songwriter",
    ), (
        "chords", "guitar", "piano", "home studios", "mixing", "songwriting", "vocal warm-ups", "synthesizers",
        "music theory", "rhythm", "drums", "recording", "live gigs", "scales",
    )),
    "parenting": (B2C, (
        "Parent", "Childminder", "Nanny", "Nursery nurse", "Playgroup leader", "Au pair",
        "Family support worker", "Parenting coach",
    ), (
        "toddlers", "sleep routines", "school lunches", "screen time", "potty training", "homework help",
        "family holidays", "tantrums", "baby food", "teenagers", "play dates", "bedtime stories",
        "sibling rivalry", "childcare",
    )),
    "fashion": (B2C, (
        "Fashion designer", "Stylist", "Tailor", "Fashion buyer", "Seamstress", "Personal shopper",
        "Textile designer", "Fashion model",
    ), (
        "capsule wardrobes", "sewing", "denim", "sustainable fashion", "tailoring", "trends", "accessories",
        "colour palettes", "vintage clothing", "sneakers", "fabric care", "knitwear", "street style",
        "alterations",
    )),
    "home improvement": (B2C, (
        "Handyman", "Interior designer", "Painter and decorator", "Upholsterer", "Furniture restorer",
        "Home stager", "Tiler", "Kitchen fitter",
    ), (
        "paint colours", "wallpaper", "shelving", "tiling", "small spaces", "furniture upcycling", "decluttering",
        "lighting design", "kitchen renovation", "bathroom makeovers", "storage ideas", "cushions", "flooring",
        "power drills",
    )),
    "pets": (B2C, (
        "Dog trainer", "Veterinary nurse", "Dog groomer", "Pet sitter", "Cat breeder", "Dog walker",
        "Animal care assistant", "Veterinarian",
    ), (
        "puppy training", "dog walks", "cat behaviour", "pet food", "grooming", "vet visits", "aquariums",
        "rabbits", "flea treatment", "pet adoption", "leash training", "pet insurance", "senior dogs", "kittens",
    )),
    "drinks": (B2C, (
        "Sommelier", "Bartender", "Barista", "Brewer", "Winemaker", "Mixologist", "Coffee roaster",
        "Cellar manager",
    ), (
        "red wine", "cocktails", "espresso", "craft beer", "wine pairing", "whisky", "latte art", "home brewing",
        "gin", "vineyards", "coffee beans", "tasting notes", "mocktails", "decanting",
    )),
    "gaming": (B2C, (
        "Game designer", "Esports player", "Game tester", "Streamer", "Level designer", "Game artist",
        "Community manager", "Game developer",
    ), (
        "strategy games", "speedruns", "consoles", "game mods", "esports", "retro games", "live streaming",
        "board games", "role-playing games", "game engines", "level design", "controllers", "indie games",
        "multiplayer",
    )),
    "outdoors": (B2C, (
        "Mountain guide", "Park ranger", "Climbing instructor", "Outdoor educator", "Kayak instructor",
        "Ski instructor", "Wildlife ranger", "Expedition leader",
    ), (
        "hiking boots", "camping", "trail maps", "wild swimming", "rock climbing", "kayaking", "bushcraft",
        "tents", "mountain weather", "map reading", "skiing", "bird watching", "national parks", "foraging",
    )),
    "wellness": (B2C, (
        "Yoga teacher", "Meditation coach", "Massage therapist", "Life coach", "Wellness coach", "Counsellor",
        "Nutritionist", "Sleep coach",
    ), (
        "mindfulness", "breathing exercises", "better sleep", "stress", "yoga poses", "gratitude", "journaling",
        "self-care", "anxiety", "healthy habits", "digital detox", "massage", "work-life balance",
        "morning routines",
    )),
    "crafts": (B2C, (
        "Potter", "Knitter", "Jewellery maker", "Woodworker", "Quilter", "Calligrapher", "Ceramic artist",
        "Candle maker",
    ), (
        "the pottery wheel", "knitting patterns", "wood carving", "glazes", "embroidery", "quilting",
        "calligraphy pens", "resin art", "beads", "crochet", "candles", "handmade gifts", "craft fairs",
        "watercolour",
    )),
    "writing": (B2C, (
        "Author", "Novelist", "Editor", "Poet", "Book reviewer", "Librarian", "Proofreader", "Screenwriter",
    ), (
        "novels", "short stories", "writer's block", "book clubs", "poetry", "plot structure", "characters",
        "self-publishing", "editing", "reading lists", "dialogue", "crime fiction", "memoirs", "fantasy worlds",
    )),
    "nutrition": (B2C, (
        "Dietitian", "Sports nutritionist", "Nutrition coach", "Food scientist", "Vegan cook",
        "Health food writer", "Clinical dietitian", "Food safety officer",
    ), (
        "vegetables", "protein", "plant-based diets", "vitamins", "sugar", "gut health", "hydration", "fibre",
        "calories", "meal plans", "superfoods", "food allergies", "breakfast", "healthy snacks",
    )),
    "education": (MIXED, (
        "Primary school teacher", "Secondary school teacher", "Lecturer", "Teaching assistant", "Tutor",
        "Special educational needs coordinator", "Headteacher", "Education consultant",
    ), (
        "lesson plans", "classroom management", "exams", "homework", "phonics", "e-learning", "marking",
        "the curriculum", "student wellbeing", "revision", "reading skills", "school trips", "assessment",
        "maths",
    )),
    "design": (MIXED, (
        "Graphic designer", "UX designer", "Web designer", "Illustrator", "Product designer", "Animator",
        "Motion designer", "UI designer",
    ), (
        "typography", "colour theory", "wireframes", "user research", "logos", "illustration", "design systems",
        "prototypes", "accessibility", "icons", "animation", "layout grids", "sketching", "brand identity",
    )),
    "media": (MIXED, (
        "Journalist", "News editor", "Reporter", "Podcaster", "Radio presenter", "Video producer",
        "Press officer", "Sub-editor",
    ), (
        "interviews", "podcasts", "breaking news", "fact checking", "headlines", "press releases", "storytelling",
        "video editing", "audio", "news deadlines", "media law", "documentaries", "radio", "sources",
    )),
    "hospitality": (MIXED, (
        "Hotel manager", "Restaurant manager", "Waiter", "Event planner", "Concierge", "Housekeeper",
        "Catering manager", "Wedding planner",
    ), (
        "guest experience", "bookings", "events", "table service", "menus", "weddings", "online reviews",
        "hotel rooms", "catering", "the front desk", "tipping", "banquets", "venue hire", "seasonal staff",
    )),
    "property and money": (MIXED, (
        "Estate agent", "Mortgage adviser", "Property manager", "Financial planner", "Letting agent",
        "Property developer", "Property investor", "Pension adviser",
    ), (
        "mortgages", "savings", "budgeting", "pensions", "first homes", "renting", "property prices",
        "credit scores", "index funds", "landlords", "home insurance", "retirement", "debt", "emergency funds",
    )),
}

# weight of a field's interests for each user type, by the field's lean
LEAN_WEIGHT = {B2B: {B2B: 1.0, B2C: 0.08}, B2C: {B2B: 0.08, B2C: 1.0}, MIXED: {B2B: 0.45, B2C: 0.45}}

TEMPLATES = (
    "{n} ways to {verb} your {topic}",
    "A beginner's guide to {topic}",
    "{topic}: what every {role} should know",
    "How to {verb} {topic} like a pro",
    "The complete guide to {topic} and {topic2}",
    "{topic} checklist for {year}",
    "Common {topic} mistakes and how to avoid them",
    "{topic} in practice: {n} case studies",
    "{verb} your {topic} in {n} steps",
    "From {topic} to {topic2}: a practical path",
    "Ask the expert: {topic}",
    "{n} {topic} tips for busy people",
    "Why {topic} matters more than you think",
    "A day in the life of {a_role}",
    "{topic} explained in {n} minutes",
    "What I learned about {topic} as {a_role}",
    "The future of {topic}",
    "{topic} vs {topic2}: which comes first?",
)
VERBS = ("improve", "master", "organise", "plan", "simplify", "rethink", "streamline", "understand", "manage", "fix")
GENERIC_TITLES = (
    "Weekly newsletter", "Product update", "Welcome to the platform", "Company announcement",
    "Holiday opening hours", "Terms of service update", "Customer survey results", "How to reset your password",
    "Meet the team", "Our year in review", "Community guidelines", "Release notes", "Account settings explained",
    "Tips for getting started", "Privacy policy changes", "Live Q&A recording", "Editor's picks this week",
    "Most read this month", "Upcoming webinars", "Service status report",
)
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")

INTEREST_COUNT = 300
TOPICS_PER_INTEREST = 8
TITLES_PER_INTEREST = 30
ZIPF_EXPONENT = 0.9
B2C_SHARE = 0.55
ACTIVE_SHARE = 0.95
ON_INTEREST_SHARE = 0.75
INTERESTS_PER_USER = {1: 0.25, 2: 0.32, 3: 0.22, 4: 0.13, 5: 0.08}
MIN_TITLES, MAX_TITLES, MODE_TITLES = 5, 40, 8
from ingestion.interests import TITLE_SEPARATOR as SEPARATOR  # noqa: E402  (one definition: dbt_project.yml)
ACTIVITY_HEADER = ("USER_HANDLE", "USER_TYPE", "CONTENT_TITLES_JOINED", "USER_INTERESTS")

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "sh")
_VOWELS = ("a", "e", "i", "o", "u")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _name(rng: random.Random) -> str:
    syllables = rng.choice((2, 3, 3, 3))
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)).capitalize()


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _role(label: str) -> str:
    """The label as it reads inside a sentence: "Data analyst" -> "data analyst", acronyms kept ("HR manager")."""
    first, _, rest = label.partition(" ")
    if first[1:].islower():
        first = first.lower()
    return f"{first} {rest}".strip()


def _with_article(role: str) -> str:
    first = role.split(" ")[0]
    spoken_vowel = first[0] in "aeiou" if not first.isupper() else first[0] in "AEFHILMNORSX"
    return f"{'an' if spoken_vowel else 'a'} {role}"


def _title(template: str, topics: list[str], label: str, rng: random.Random) -> str:
    topic, topic2 = rng.sample(topics, 2)
    role = _role(label)
    text = template.format(
        n=rng.choice((3, 5, 7, 10, 12)), verb=rng.choice(VERBS), topic=topic, topic2=topic2,
        role=role, a_role=_with_article(role), year=rng.choice((2022, 2023, 2024, 2025)),
    )
    return text[0].upper() + text[1:]


def make_interests(seed: int = 0) -> list[dict]:
    """The interests, in field order: id, label, field, lean, topic words, title catalogue, popularity rank."""
    rng = random.Random(f"{seed}:interests")
    candidates = [(field, label) for field, (_, labels, _) in FIELDS.items() for label in labels]
    assert len({label for _, label in candidates}) == len(candidates), "interest labels must be unique"
    kept = set(rng.sample(range(len(candidates)), INTEREST_COUNT))
    interests = []
    for index, (field, label) in enumerate(candidates):
        if index not in kept:
            continue
        lean, _, pool = FIELDS[field]
        topics = [pool[i] for i in sorted(rng.sample(range(len(pool)), TOPICS_PER_INTEREST))]
        titles: list[str] = []
        for _ in range(20 * TITLES_PER_INTEREST):
            if len(titles) == TITLES_PER_INTEREST:
                break
            title = _title(rng.choice(TEMPLATES), topics, label, rng)
            if title not in titles:
                titles.append(title)
        interests.append({"id": _uuid(rng), "label": label, "field": field, "lean": lean, "topics": topics,
                          "titles": titles})
    ranks = list(range(len(interests)))
    rng.shuffle(ranks)
    for interest, rank in zip(interests, ranks):
        interest["rank"] = rank
    return interests


def _generic_title(rng: random.Random) -> str:
    title = rng.choice(GENERIC_TITLES)
    if title in ("Weekly newsletter", "Release notes", "Product update") and rng.random() < 0.5:
        title = f"{title}: {rng.choice(MONTHS)} {rng.choice((2023, 2024, 2025))}"
    return title


def write_interests(folder: Path, users: int = 2000, seed: int = 0) -> None:
    """Write users.csv, interests.csv and user_activity.csv into folder; same arguments, same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    interests = make_interests(seed)
    _write_csv(folder / "interests.csv", ("id", "label"), [(i["id"], i["label"]) for i in interests])

    rng = random.Random(f"{seed}:users")
    people = [(_uuid(rng), _name(rng), B2C if rng.random() < B2C_SHARE else B2B) for _ in range(users)]
    _write_csv(folder / "users.csv", ("id", "name", "type"), people)

    rng = random.Random(f"{seed}:activity")
    cumulative = {
        kind: list(accumulate(LEAN_WEIGHT[i["lean"]][kind] / (i["rank"] + 1) ** ZIPF_EXPONENT for i in interests))
        for kind in (B2B, B2C)
    }
    counts, count_weights = list(INTERESTS_PER_USER), list(INTERESTS_PER_USER.values())
    rows = []
    for handle, _, kind in people:
        if rng.random() >= ACTIVE_SHARE:
            continue  # cold start: no activity row
        wanted = rng.choices(counts, count_weights)[0]
        held: list[int] = []
        while len(held) < wanted:
            index = bisect.bisect_right(cumulative[kind], rng.random() * cumulative[kind][-1])
            index = min(index, len(interests) - 1)
            if index not in held:
                held.append(index)
        # the first interest is the main one: it gets more of the user's attention
        attention = [2.0] + [1.0] * (len(held) - 1)
        n_titles = round(rng.triangular(MIN_TITLES, MAX_TITLES, MODE_TITLES))
        titles: list[str] = []
        for _ in range(4 * n_titles):
            if len(titles) == n_titles:
                break
            draw = rng.random()
            if draw < ON_INTEREST_SHARE:
                title = rng.choice(interests[rng.choices(held, attention)[0]]["titles"])
            elif draw < ON_INTEREST_SHARE + (1 - ON_INTEREST_SHARE) / 2:
                title = rng.choice(rng.choice(interests)["titles"])
            else:
                title = _generic_title(rng)
            if title not in titles:
                titles.append(title)
        assert all("|" not in title for title in titles)
        ids = json.dumps([interests[i]["id"] for i in held], separators=(",", ":"))
        rows.append((handle, kind, SEPARATOR.join(titles), ids))
    _write_csv(folder / "user_activity.csv", ACTIVITY_HEADER, rows)


if __name__ == "__main__":
    from synthetic.__main__ import SAMPLE_DIR

    write_interests(SAMPLE_DIR / "interests")
