"""Seeded English text for the demo documents.

Everything is built from the small vocabulary below with a `random.Random`,
so a seed always gives the same words in every process. The words are plain
ASCII and common, because the scanned pages made from them must OCR cleanly
and the digital ones must be checkable by simple word matching.
"""

import random

FIRST_NAMES = (
    "Alice",
    "Brian",
    "Clara",
    "Daniel",
    "Emma",
    "Frank",
    "Grace",
    "Henry",
    "Irene",
    "James",
    "Karen",
    "Louis",
    "Maria",
    "Nathan",
    "Olivia",
    "Peter",
    "Rachel",
    "Samuel",
    "Teresa",
    "Victor",
    "Wendy",
    "Thomas",
    "Helen",
    "George",
)
LAST_NAMES = (
    "Anderson",
    "Baker",
    "Carter",
    "Dawson",
    "Ellis",
    "Fisher",
    "Garner",
    "Harper",
    "Irving",
    "Jensen",
    "Keller",
    "Lawson",
    "Morgan",
    "Norton",
    "Owens",
    "Parker",
    "Quinn",
    "Russell",
    "Sutton",
    "Turner",
    "Walker",
    "Young",
    "Bennett",
    "Hughes",
)
CITIES = (
    "Springfield",
    "Riverton",
    "Lakewood",
    "Fairview",
    "Georgetown",
    "Milford",
    "Ashland",
    "Clinton",
    "Franklin",
    "Greenville",
    "Madison",
    "Salem",
    "Bristol",
    "Oxford",
)
STREETS = ("Oak", "Maple", "Cedar", "Elm", "Pine", "Hill", "Lake", "Park", "Mill", "Church")
STREET_KINDS = ("Street", "Avenue", "Road", "Lane", "Drive")
COMPANY_SUFFIXES = (
    "Logistics",
    "Supplies",
    "Consulting",
    "Engineering",
    "Printing",
    "Foods",
    "Systems",
    "Builders",
    "Analytics",
    "Trading",
)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

SUBJECTS = (
    "the committee",
    "our team",
    "the regional office",
    "the survey group",
    "the board",
    "the finance department",
    "the project staff",
    "the city council",
    "the research unit",
    "the sales team",
    "the review panel",
    "the operations group",
    "each branch office",
    "the planning office",
    "the field crew",
)
VERBS = (
    "reviewed",
    "approved",
    "measured",
    "reported",
    "prepared",
    "examined",
    "completed",
    "updated",
    "compared",
    "recorded",
    "published",
    "discussed",
    "estimated",
    "collected",
    "improved",
    "tested",
    "planned",
    "checked",
)
OBJECTS = (
    "the annual budget",
    "the new schedule",
    "the quarterly figures",
    "the delivery plan",
    "the final report",
    "the water supply data",
    "the training program",
    "the safety rules",
    "the customer survey",
    "the equipment list",
    "the building design",
    "the price table",
    "the monthly results",
    "the travel costs",
    "the school records",
    "the energy use",
    "the open orders",
    "the field notes",
)
MODIFIERS = (
    "in the first quarter",
    "after a short delay",
    "with careful attention",
    "before the deadline",
    "during the spring",
    "for the second time",
    "at the main office",
    "without major changes",
    "over several weeks",
    "in close cooperation with the partners",
    "at the end of the year",
    "with the help of local volunteers",
    "as part of the yearly review",
    "on a small budget",
)
OUTCOMES = (
    "the results were better than expected",
    "most of the work is now finished",
    "the costs stayed within the limits",
    "several questions remain open",
    "the numbers will be checked again next month",
    "the plan was accepted by all members",
    "the old process will be replaced",
    "the findings agree with earlier studies",
    "a second review is planned for next year",
    "the data show a steady increase",
)
GROUPS = (
    "the customers",
    "the employees",
    "the households",
    "the schools",
    "the members",
    "the visitors",
    "the suppliers",
    "the small farms",
)
TRENDS = (
    "reported higher costs",
    "asked for more support",
    "used the new service",
    "agreed with the proposal",
    "returned the form on time",
    "preferred the later date",
)
HEADING_ADJECTIVES = (
    "Annual",
    "Regional",
    "General",
    "Technical",
    "Financial",
    "Quarterly",
    "Local",
    "Main",
    "Public",
    "Internal",
    "Operational",
    "Summary",
)
HEADING_NOUNS = (
    "Overview",
    "Results",
    "Background",
    "Methods",
    "Findings",
    "Budget",
    "Schedule",
    "Review",
    "Outlook",
    "Operations",
    "Planning",
    "Resources",
    "Activities",
    "Costs",
)
TOPICS = (
    "Water Quality",
    "Road Maintenance",
    "Public Transport",
    "School Meals",
    "Energy Savings",
    "Library Services",
    "Waste Collection",
    "Park Renovation",
    "Housing Supply",
    "Crop Yields",
)
PRODUCTS = (
    "Office chair",
    "Printer paper",
    "Desk lamp",
    "Network cable",
    "Storage box",
    "Wall clock",
    "Coffee machine",
    "Whiteboard",
    "Filing cabinet",
    "Paper shredder",
    "Monitor stand",
    "Label printer",
    "Cleaning service",
    "Delivery fee",
)


class TextGen:
    """A seeded source of names, dates, amounts, headings and paragraphs.

    `salt` gives each document its own stream, so adding or changing one
    document never shifts the text of another built with the same seed.
    """

    def __init__(self, seed: int, salt: str = "") -> None:
        self.rng = random.Random(f"demo-corpus:{seed}:{salt}")

    def pick(self, options):
        return self.rng.choice(options)

    def number(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def name(self) -> str:
        return f"{self.pick(FIRST_NAMES)} {self.pick(LAST_NAMES)}"

    def city(self) -> str:
        return self.pick(CITIES)

    def street_address(self) -> str:
        return f"{self.number(2, 480)} {self.pick(STREETS)} {self.pick(STREET_KINDS)}"

    def postal_code(self) -> str:
        return f"{self.number(10000, 99999)}"

    def company(self) -> str:
        return f"{self.pick(LAST_NAMES)} {self.pick(COMPANY_SUFFIXES)} Ltd"

    def email(self, name: str) -> str:
        first, last = name.lower().split()
        return f"{first}.{last}@example.org"

    def phone(self) -> str:
        return f"555-{self.number(100, 999)}-{self.number(1000, 9999)}"

    def date_parts(self) -> tuple[int, int, int]:
        return self.number(2019, 2024), self.number(1, 12), self.number(1, 28)

    def date(self) -> str:
        """A date written out, such as 14 March 2023."""
        year, month, day = self.date_parts()
        return f"{day} {MONTHS[month - 1]} {year}"

    def iso_date(self) -> str:
        year, month, day = self.date_parts()
        return f"{year:04d}-{month:02d}-{day:02d}"

    def cents(self, low: int, high: int) -> int:
        """An amount in whole cents between two dollar figures."""
        return self.number(low * 100, high * 100)

    def amount(self, low: int = 100, high: int = 50000) -> str:
        return money(self.cents(low, high))

    def percent(self) -> int:
        return self.number(3, 95)

    def heading(self) -> str:
        return f"{self.pick(HEADING_ADJECTIVES)} {self.pick(HEADING_NOUNS)}"

    def topic(self) -> str:
        return self.pick(TOPICS)

    def title(self) -> str:
        return f"{self.pick(HEADING_ADJECTIVES)} Report on {self.topic()}"

    def product(self) -> str:
        return self.pick(PRODUCTS)

    def sentence(self) -> str:
        """One sentence from a handful of templates, capitalised and closed."""
        kind = self.number(0, 5)
        if kind == 0:
            text = f"{self.pick(SUBJECTS)} {self.pick(VERBS)} {self.pick(OBJECTS)} "
            text += self.pick(MODIFIERS)
        elif kind == 1:
            text = f"{self.pick(SUBJECTS)} {self.pick(VERBS)} {self.pick(OBJECTS)}, and "
            text += self.pick(OUTCOMES)
        elif kind == 2:
            text = f"in {self.pick(MONTHS)} {self.number(2019, 2024)}, {self.pick(SUBJECTS)} "
            text += f"{self.pick(VERBS)} {self.pick(OBJECTS)}"
        elif kind == 3:
            text = f"about {self.percent()} percent of {self.pick(GROUPS)} "
            text += f"{self.pick(TRENDS)} {self.pick(MODIFIERS)}"
        elif kind == 4:
            text = f"the total cost reached {self.amount(1000, 90000)}, and "
            text += self.pick(OUTCOMES)
        else:
            text = f"{self.name()} from {self.city()} {self.pick(VERBS)} {self.pick(OBJECTS)}"
        return text[0].upper() + text[1:] + "."

    def paragraph(self, sentences: int = 4) -> str:
        return " ".join(self.sentence() for _ in range(sentences))

    def nonsense(self, length: int) -> str:
        """A word of symbols, like the text layer of a PDF with a broken font encoding."""
        return "".join(self.pick(GARBAGE_CHARS) for _ in range(length))


GARBAGE_CHARS = "#$%&*+<=>@^_{|}~\u00a4\u00a7\u00b1\u00b6\u00bf\u00d7\u00de\u00f0\u00fe\u00a5"


def money(cents: int) -> str:
    """Dollars with thousands separators, such as $1,234.50."""
    return f"${cents // 100:,}.{cents % 100:02d}"
