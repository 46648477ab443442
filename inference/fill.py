# ruff: noqa: RUF001
"""Fill a form (JSON Schema) from free text: a draft plus the evidence span of each field.

Why not "prompt + grammar from the whole schema"? With a 270M model that scores
~60 %: it picks the first enum value, invents order numbers, and the grammar
(``maxLength`` expands into long rules) makes it slow. Instead each field is
filled by the cheapest method that is reliable for its shape:

* e-mail, date, phone, order/reference codes, small integers: deterministic
  extraction (``inference.extract``), assigned to fields by nearby cue words;
* enums and arrays of enums: lexical evidence first (the option or a known
  synonym appears in the text); otherwise the LLM's log-likelihood of each
  option after a question, calibrated against the same question on an empty
  text (removes the model's prior for "first"/"short" options);
* booleans: a sentence that mentions the field's concept, polarity from
  negation cues; no mention -> omitted;
* strings: extractive — a pattern match or the LLM's short answer aligned back
  onto the input; if it does not align, the field is omitted (no invention).

Fields the text does not support are left out unless the schema requires them;
required fields fall back to the LLM under an explicitly compiled grammar. The
result is validated with ``Draft202012Validator`` (format checks on) and
repaired (invalid optional fields dropped) so it always validates.
The few-shot prefix is constant, so llama.cpp's prefix cache evaluates it once.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import json
import math
import re
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from jsonschema import Draft202012Validator

from inference import extract as ex
from inference.engines.llama import LlamaEngine

FEW_SHOT = (
    "Read each text and answer the question with words copied from the text.\n\n"
    "Text: Hello, I am Peter Novak from Delta Freight. The parcel was left at the back door of "
    "12 Baker Street on 4 May. Nobody was home.\n"
    "Question: Where did it happen?\nAnswer: 12 Baker Street\n\n"
    "Text: Hello, I am Peter Novak from Delta Freight. The parcel was left at the back door of "
    "12 Baker Street on 4 May. Nobody was home.\n"
    "Question: What is the company?\nAnswer: Delta Freight\n\n"
    "Text: My car was scratched in the supermarket car park. Please call me back.\n"
    "Question: What is the person's name?\nAnswer: none\n\n"
    "Text: The coffee machine on the third floor is leaking water again. Signed, Julia Berg\n"
    "Question: What is the name?\nAnswer: Julia Berg\n\n"
)

NEGATION = re.compile(
    r"\b(no(?!\.?\s*(?:[:#]\s*)?\d)|not|nobody|none|never|without|unhurt|uninjured|unharmed|expired|ended|lapsed|"
    r"out of|don't|doesn't|didn't|won't|isn't|wasn't|weren't|aren't|no one|nothing|n't)\b|n't\b", re.I)

#: Generic synonyms for frequent form concepts (used for enum/boolean/integer cue matching).
SYNONYMS: dict[str, list[str]] = {
    "theft": ["stole", "stolen", "steal", "snatched", "robbed", "took my"],
    "burglary": ["broke into", "break-in", "broken into", "burglar", "forced open", "forced entry"],
    "assault": ["attacked", "punched", "beaten", "beat up", "hit me", "stabbed", "kicked", "assaulted"],
    "vandalism": ["graffiti", "smashed", "spray-painted", "vandal", "damaged", "defaced", "slashed", "keyed",
                  "scratched", "dented", "broke the window", "broken window"],
    "fraud": ["scam", "scammed", "unauthorised", "unauthorized", "phishing", "fraudulent",
              "never authorised", "card details"],
    "traffic_accident": ["collision", "crash", "knocked down", "collided", "car accident", "hit by a",
                         "rear-ended"],
    "harassment": ["harass", "offensive messages", "following me", "stalking", "threatening messages",
                   "intimidat"],
    "critical": ["urgent", "outage", "emergency", "fire", "smoke", "all users",
                 "cannot work", "can't work", "completely down", "is down", "critical"],
    "high": ["can't use", "cannot use", "barely", "stopped working", "no longer works", "not working",
             "stopped charging", "can't really use", "high priority"],
    "medium": ["annoying", "moderate", "frustrating", "slows", "intermittent", "sometimes fails",
               "medium priority", "restarts"],
    "low": ["minor", "small", "cosmetic", "low priority", "not urgent",
            "works fine", "slightly", "a bit"],
    "accident": ["slipped", "tripped", "fell", "collision", "crash", "crashed", "knocked down", "collided"],
    "vip": ["v.i.p"],
    "laptop": ["notebook", "macbook", "chromebook", "thinkpad"],
    "smartphone": ["phone", "iphone", "android", "mobile phone", "cell phone"],
    "tablet": ["ipad"],
    "smartwatch": ["watch", "fitness tracker"],
    "headphones": ["earbuds", "earbud", "headset", "earphones", "airpods"],
    "router": ["wifi", "wi-fi", "modem", "internet connection"],
    "printer": ["printing", "prints", "paper jam"],
    "student": ["students", "university", "uni "],
    "sick": ["ill", "flu", "fever", "doctor", "unwell", "illness", "sick"],
    "vacation": ["holiday", "vacation", "annual leave", "time off", "trip"],
    "parental": ["maternity", "paternity", "newborn", "baby", "parental"],
    "bereavement": ["passed away", "funeral", "died", "death"],
    "unpaid": ["unpaid", "without pay"],
    "gluten_free": ["gluten free", "gluten-free", "coeliac", "celiac"],
    "nut_allergy": ["allergic to nuts", "nut allergy", "peanut", "nut-free"],
    "injur": ["injur", "hurt", "hospital", "wound", "stitches", "broken nose",
              "broke a", "unhurt", "harmed", "bleeding"],
    "parking": ["parking", "park ", "drive", "driving", "by car"],
    "warranty": ["warranty", "guarantee"],
    "attendee": ["people", "persons", "attendees", "guests", "tickets", "of us", "us", "seats",
                 "participants"],
    "people": ["people", "persons", "ppl", "men", "women", "drivers", "individuals", "involved"],
    "day": ["days", "working days", "day"],
    "guest": ["guests", "people", "persons", "person", "adults", "pax", "ppl", "of us", "travellers", "travelers"],
    "package": ["packages", "boxes", "box", "cartons", "carton", "parcels", "parcel", "pallets", "pallet"],
    "gender": ["sex"],
    "birth": ["born", "dob", "d.o.b"],
    "sex": ["gender"],
    "photo": ["photos", "pictures", "picture", "images", "photographs", "pics", "pic"],
    "child": ["children", "kids", "kid", "child"],
    "adult": ["adults", "grown-ups"],
    "passenger": ["pax", "people", "persons", "travellers", "travelers", "of us"],
    "pet": ["dog", "cat", "puppy", "kitten", "rabbit", "parrot", "hamster", "pets", "animals"],
    "insur": ["insurance", "insured", "policy", "cover", "covered"],
    "always": ["every time", "each time", "consistently", "always"],
    "phone": ["mobile", "telephone", "cell", "call", "contact", "whatsapp"],
    "mobile": ["phone", "telephone", "cell", "call", "contact", "whatsapp"],
    # a compound field word as the text inflects it ('pickup' ~ 'picking up'), nothing more
    "pickup": ["pick up", "picking up", "picked up", "picks up"],
    "dropoff": ["drop off", "dropping off", "dropped off", "drops off"],
    "return": ["returning", "returned", "returns"],
}
#: SYNONYMS keys whose words are cues for finding a value (a number after 'call'), never names of
#: an option ('Contact:' is no item_category=phone).
CUE_ONLY_SYNONYMS = {"phone", "mobile"}
#: Abbreviations field names are written with, and the word a text uses for them.
ABBREVIATIONS = {"org": "organisation", "orgs": "organisations", "amt": "amount", "qty": "quantity",
                 "appt": "appointment", "svc": "service", "pref": "preferred", "ccy": "currency",
                 "addr": "address", "tel": "telephone", "mob": "mobile", "dept": "department",
                 "reg": "registration", "ref": "reference", "desc": "description", "loc": "location",
                 "dob": "born", "dt": "date", "prev": "previous", "med": "medical", "cond": "condition",
                 "ht": "height", "wt": "weight", "temp": "temperature",
                 "info": "information", "yrs": "years", "mgr": "manager", "emp": "employee"}
STOP = {"the", "a", "an", "of", "is", "was", "to", "number", "type", "your", "you", "needs", "need",
        "did", "do", "does", "anyone", "any", "what", "which", "requirements", "under"}
#: Capital and small letters of the Latin alphabets names are written in ('Seán', 'Müller', 'Łukasz').
_UP = "A-ZÀ-ÖØ-ÞĀĂĄĆČĎĐĒĘĚĞĪİŁŃŇŌŐŒŘŚŞŠŢŤŪŮŰŹŻŽ"
_LO = "a-zß-öø-ÿāăąćčďđēęěğīıłńňōőœřśşšţťūůűźżž"
_NT = rf"[{_UP}][{_LO}]+(?:[{_UP}][{_LO}]+)?(?:['’-][{_UP}]?[{_LO}]+)?"  # Ana, McDonald, O'Brien, Jean-Luc, Seán
PERSON_PATTERNS = [
    rf"\b(?i:my name is|name'?s|my name's) ({_NT}(?: {_NT}){{0,2}})",
    rf"\b(?i:I'm|I am|this is|it's|it is|here is) ({_NT} {_NT}(?: {_NT})?)",
    r"\b(?i:reported by|reporter|contact|from|regards|best regards|kind regards|thanks|thank you|"
    r"cheers|signed|sincerely|name|register|registration for|registration|entry|under the name|for|hi|hello|hey|dear|"
    r"filed by|submitted by|written by|sent by|requested by|on behalf of|best|yours)"
    rf"[:,]?\s+(?i:officer |security officer |mr\.? |mrs\.? |ms\.? |dr\.? )?({_NT} {_NT})",
    rf"(?:^|(?<=[.!?])\s+|(?<=[-–—])\s*)({_NT} {_NT})(?=[,.(]|\s*$|\s+\()",
    rf"(?:^|(?<=[.!?])\s+)({_NT} {_NT}) (?i:here)\b",
    rf"(?<=, )({_NT} {_NT})(?=,|\s*$)",
    rf"(?:^|(?<=[.!?])\s+)({_NT} {_NT}) (?i:reported|says|said|called|wrote|writes|would like|wants|needs|"
    r"here|asked|complained|noticed|saw)\b",
]
_INITIALS_NAME = rf"(?:[A-Z]\.\s?){{0,2}}{_NT}(?: {_NT}){{0,2}}"
#: How a text names someone by their relation to the person it is about.
RELATION_MARK = re.compile(r"\s*,?\s*\b(?:[SDWC]/[oO]|son of|daughter of|wife of|husband of|widow of)\b", re.I)
RELATION_RE = re.compile(r"\b(?i:[sdw]/o|son of|daughter of|wife of|husband of|widow of)\s+"
                         r"(?:(?i:late|shri|sri|smt|mr\.?|mrs\.?)\s+)?(?P<n>" + _INITIALS_NAME + r")")
CHILD_RE = re.compile(r"\b(?i:my|our|her|his)\s+(?i:son|daughter|child|kid|ward|boy|girl)\s*,?\s+(?P<n>" + _NT +
                      r"(?: " + _NT + r"){0,2})")
#: Lower-case words that begin surnames ('van Dijk', 'de Souza Maria').
NAME_PARTICLES = {"van", "von", "de", "da", "das", "do", "dos", "der", "den", "di", "du", "del", "della", "la", "le",
                  "al", "el", "bin", "bint", "ibn", "ter", "ten", "zu"}
#: Lower-case words before a labelled name that say who the person is to the writer, not their name
#: ('Nominee: husband, R. Sundaram', 'Emergency contact: my sister Anjali Nair').
PARENT_WORDS = {"father", "husband", "mother", "spouse", "wife", "guardian", "parent", "parents"}
CHILD_WORDS = {"student", "child", "pupil", "ward", "kid", "son", "daughter", "children", "learner"}
#: Words for who someone is to the writer, or their role; only these (and one word before them) are
#: stripped before a labelled name ('Witness: shift lead Anil Verma'; 'Nominee: van Dijk' keeps its 'van').
RELATION_WORDS = PARENT_WORDS | CHILD_WORDS | {
    "brother", "sister", "sibling", "friend", "neighbour", "neighbor", "colleague", "partner", "boyfriend",
    "girlfriend", "fiance", "fiancee", "uncle", "aunt", "cousin", "nephew", "niece", "grandfather",
    "grandmother", "grandson", "granddaughter", "grandparent", "father-in-law", "mother-in-law", "dad", "mum",
    "mom", "boss", "manager", "landlord", "landlady", "tenant", "flatmate", "roommate", "relative", "lead",
    "supervisor", "foreman", "coworker", "co-worker", "operator", "technician", "engineer", "nurse", "doctor",
    "officer", "driver", "worker", "teacher"}
LEAD_RELATION = re.compile(r"(?:(?:my|our|his|her|the|a)\s+)?(?:[a-z]+\s+)?"
                           r"(?:(?:" + "|".join(sorted(RELATION_WORDS, key=len, reverse=True)) +
                           r")(?:-in-law)?\s*,?\s+){1,2}(?=[A-Z])")
#: A name after an honorific ('Mrs Lakshmi Narayan'), before an age/sex bracket as clinicians write
#: ('Arjun Mehta (M, 40)'), or after 'by' (an agent: 'inspected by Deepa Kulkarni').
TITLED_NAME_PATTERNS = [
    rf"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+({_NT}(?: {_NT}){{1,2}})(?![\w'’-])",
    rf"\b({_NT} {_NT}(?: {_NT})?)\s*\((?:\s*[MF]\b|\s*\d{{1,3}}\s*[,/)])",
    rf"\bby\s+({_NT} {_NT})\b",
    rf"(?:^|(?<=[.!?,;])\s+)({_NT} {_NT})(?=,?\s+\+?\d[\d\s-]{{6,}})",
    # a signature: a name right before its e-mail address ('Lukas Brenner lukas.brenner@example.at')
    rf"(?:^|(?<=[.!?,;:)\n-])\s*|\s)({_NT}(?: {_NT}){{1,2}})(?=\s*[,(<]?\s*[\w.+-]+@[\w-]+\.)",
]
ORG_SUFFIX = r"(?:Inc|Corp|Corporation|Ltd|LLC|GmbH|Labs|Industries|Traders|Robotics|Group|Company|" \
             r"Technologies|Solutions|Systems|Partners|Bank|University|Foundation|Trust|Society|Collective|" \
             r"Association|Club|Institute|Council|Federation|Cooperative|Co-op|Alliance|Network|Initiative|" \
             r"Fund|Charity|Sangh|Samiti|Sangha|Mission|League|Union|Agency|Studio|Studios|Academy)"
NOT_NAME = {"The", "This", "My", "Our", "Hello", "Hi", "Hey", "Please", "Order", "Contact", "Email",
            "Regards", "Thanks", "Urgent", "Critical", "Reporter", "Phone", "Call", "Mobile", "Just",
            "Registration", "Register", "Requesting", "Someone", "Nobody", "Burglars", "Tablet",
            "Student", "Standard", "Booking", "When", "Collision", "Headphones", "Manager", "Low",
            "Medium", "High", "Still", "Yesterday", "Today", "Both", "One", "Two"}
#: Words that open a letter: 'Dear Team' names no team.
SALUTATIONS = {"Dear", "Hi", "Hello", "Hey", "To", "Attn", "Attention", "Greetings", "Morning", "Afternoon", "Evening"}
MONTH_WORDS = {m.capitalize() for m in ex.MONTHS}
MAX_LLM_CHARS = 1500
#: Windows of spaced code groups looked at per fill: each is a candidate for every pattern field,
#: scored against every other field's cues, so a 20,000-character code dump made it take seconds.
MAX_CODE_WINDOWS = 600
PLACE_NOUN = re.compile(
    r"\b(?:station|street|st|road|rd|avenue|ave|lane|drive|park|parking|garage|lot|bus|train|tram|bar|pub|"
    r"market|centre|center|library|office|store|shop|mall|school|university|hospital|hotel|lobby|restaurant|"
    r"cafe|house|home|building|warehouse|square|bridge|airport|platform|junction|car park|stadium|gym|"
    r"church|museum|branch|plaza|court|floor|room|entrance|corridor|kitchen|yard|farm|beach|harbour|port)s?\b",
    re.I)
PLACE_RE = re.compile(
    r"\b(?:at|outside|inside|near|in|on|around|behind|opposite|from|of)\s+"
    r"((?:the\s+)?[\w'’-]+(?:\s+[\w'’-]+){0,5}?)"
    r"(?=\s*[,.;!?()]|\s+(?:on|when|while|during|and|but|since|last|yesterday|today|this|for|because|"
    r"overnight|after|before|where|with|by|in)\b|\s*$)")
#: Words of a field's name/title that say "this number is money" / "this number counts things".
MONEY_WORDS = {"amount", "price", "cost", "fee", "fees", "value", "claim", "claimed", "fine", "penalty", "total",
               "salary", "wage", "budget", "premium", "charge", "charges", "paid", "payment", "rate", "deposit",
               "income", "loss", "compensation", "currency", "rupees", "inr", "usd", "eur", "money", "expense",
               "expenses", "bill", "refund", "ctc", "pay", "sum", "worth", "estimate", "est", "rent", "fare",
               "tuition", "stipend", "tax", "duty", "dutiable", "earnings", "revenue", "turnover", "donation",
               "grant", "funding", "loan", "emi", "spend", "spent", "tip", "bid", "offer"}
COUNT_WORDS = {"number", "count", "qty", "quantity", "people", "persons", "items", "units", "pieces", "days",
               "nights", "guests", "violations", "packages", "attendees", "num", "no"}
#: Role nouns a field may be named after when it holds a person's name.
PERSON_ROLES = {"applicant", "entrant", "reporter", "author", "attendee", "submitter", "registrant", "subscriber",
                "caller", "inspector", "consignee", "participant", "guest", "receiver", "recipient", "patient",
                "claimant",
                "complainant", "informant", "owner", "holder", "member", "candidate", "passenger", "driver",
                "victim", "witness", "insured", "policyholder", "requester", "requestor", "doctor", "physician",
                "nurse", "officer", "agent", "employee", "student", "tenant", "buyer", "seller", "sender",
                "runner", "athlete", "customer", "client", "visitor", "person", "approver", "manager",
                "supervisor", "referee", "nominee", "beneficiary", "father", "mother", "spouse", "guardian"}
#: Honorifics that say a sex; they count only on the name the form is about ('I rent from Mr. Sharma'
#: says nothing of the writer).
SEX_HONORIFICS = {"male": ["mr", "mister"], "female": ["mrs", "ms", "miss"]}
#: Words of a field's name/title that say "this string is a place".
PLACE_WORDS = {"location", "place", "address", "where", "venue", "site", "city", "town", "village", "district",
               "state", "country", "region", "area", "branch", "origin", "destination", "hometown", "locality",
               "neighbourhood", "neighborhood", "suburb", "county", "province", "premises", "port", "station",
               "office", "depot", "warehouse", "pickup", "dropoff", "route", "birthplace", "residence",
               "landmark", "street", "zone", "ward", "taluk", "tehsil", "municipality", "campus", "airport",
               "workshop", "centre", "center", "outlet", "showroom", "hub", "facility", "plant", "building",
               "hostel", "block", "tower", "society", "estate", "complex", "mall", "hospital", "school",
               "college", "store", "shop", "restaurant", "hotel"}
#: What comes before a place someone comes from or lives in ('coming from', 'based in').
MOVES_FROM = re.compile(r"\b(?i:com(?:e|es|ing)|travel(?:s|led|ling|ing)?|fly(?:ing)?|flew|driv(?:e|ing)|mov(?:e|ing)|"
                        r"arriv(?:e|es|ing)|live[sd]?|living|based|resid(?:e|es|ing)|located|originally)"
                        r"\s+(?:in\s+)?(?i:from|in|at)\s+(?:the\s+)?$")
#: What comes before an employer's name: a job or work, then 'at'/'for'/'with'.
WORKS_AT = re.compile(r"\b(?:(?i:work(?:s|ed|ing)?|employed|engineer|developer|manager|team|intern|analyst|lead|"
                      r"scientist|designer|officer|consultant|researcher|founder|director|professor|job))"
                      r"\s+(?:at|for|with)\s+(?:the\s+)?$")
#: Words of a field that say it names a landmark, and how a text points at one.
LANDMARK_WORDS = {"landmark", "landmarks"}
LANDMARK_RE = re.compile(
    r"\b(?i:near|opposite|outside|in front of|next to|beside|behind|across from|close to)\s+(?:the\s+)?"
    r"((?:[A-Z][a-z]{0,2}\.(?=\s+[A-Z])|[A-Z][\w'’-]*)(?:\s+(?:[A-Z][a-z]{0,2}\.(?=\s+[A-Z])|[A-Z][\w'’-]*)){0,3}"
    r"(?:\s+(?i:supermarket|store|shop|station|school|temple|"
    r"church|mosque|gurudwara|hospital|mall|market|park|bank|hotel|restaurant|cafe|café|pharmacy|cinema))?)")
#: Words of a field that say it names a settlement or region, not a site within one.
SETTLEMENT_WORDS = {"city", "town", "village", "district", "state", "country", "region", "county", "province",
                    "hometown", "suburb", "municipality", "locality", "neighbourhood", "neighborhood", "nationality",
                    "birthplace", "taluk", "tehsil", "ward", "zone", "area"}
#: What follows a place name when the text names a site in it: its noun ('airport', 'railway station',
#: 'city centre depot'), then a terminal or code ('Terminal 2', 'DXB T3').
SITE_TAIL = re.compile(
    r"(?:\s+(?!(?:and|or|the|a|an|on|in|at|to|by|for|of|from|with)\b)[a-z]+){0,2}?\s+"
    r"(?:airport|station|terminal|port|harbour|harbor|pier|mall|market|park|square)\b(?:,?\s+(?:Terminal|T)\s?\d+\b|\s+[A-Z]{2,4}(?:\s+T\d)?\b)?")
#: Institutions whose noun belongs to their name ('Delhi Public School', 'Apollo Hospital').
INSTITUTIONS = {"school", "college", "university", "hospital", "clinic", "academy", "institute", "convent",
                "playschool", "kindergarten"}
#: Generic words people put next to a name or place that are not part of it.
HONORIFICS = re.compile(r"^(?:(?:mr|mrs|ms|miss|mx|dr|prof|sri|shri|smt|kumari|sir|madam|mister)\.?\s+)+", re.I)
#: Where a field's role implies a preposition: an origin follows "from", a destination "to".
ROLE_PREPOSITIONS = {"origin": "from", "source": "from", "departure": "from", "pickup": "from", "sender": "from",
                     "destination": "to", "dest": "to", "arrival": "to", "delivery": "to", "dropoff": "to"}
#: Sex/gender vocabulary for enum options (male/female/M/F) when the field is about sex or gender.
SEX_WORDS = {"male": ["male", "man", "boy", "gentleman", "son"],
             "female": ["female", "woman", "girl", "lady", "daughter"],
             "non_binary": ["non-binary", "nonbinary", "non binary", "enby"]}
#: Words of a field that say its value is a whole address or the place of an event, written as a run
#: of parts ('Flat 12, Shivaji Apartments, Sector 9, Delhi'); HOME_WORDS: where someone lives.
CHAIN_WORDS = {"address", "location", "place", "premises", "residence", "home", "locality", "site", "venue",
               "occurrence"}
HOME_WORDS = {"address", "residence", "home", "residential", "resident", "permanent", "postal", "correspondence",
              "house"}
#: Place words that describe an address rather than name a settlement.
ADDRESS_WORDS = {"location", "place", "address", "where", "venue", "premises", "street", "landmark", "route"}
#: Nouns that follow a place name and are not part of it ('the Leeds depot', 'our Jaipur property').
PLACE_NOUNS_AFTER = {"office", "branch", "district", "site", "depot", "property", "hotel", "plant", "campus",
                     "workshop", "centre", "center", "garage", "showroom", "outlet",
                     "city", "town", "area", "region", "state", "hq", "headquarters", "store", "warehouse"}
#: Words a boolean's name starts with that say nothing about its subject ('has_insurance').
BOOL_STOP = {"has", "have", "is", "are", "was", "were", "any", "needs", "requires", "required", "with", "include",
             "includes", "included", "wants", "want", "can", "should", "will", "under", "via", "by"}
QUANTITY_WORDS = {"qty", "quantity", "count", "units", "pieces", "items", "amount"}
#: Options that stand for "not known", and how a text says it.
UNKNOWN_OPTIONS = {"unknown", "not_known", "dont_know", "not known", "don't know"}
UNKNOWN_SAID = {"don't know", "do not know", "not known", "unknown", "not sure", "no idea"}
#: The first part of an address that numbers a house or flat ('B-14', '402', 'Flat 7A', 'No. 9').
HOUSE_NUMBER = re.compile(r"[A-Z]{0,3}-?\d+[A-Z]?(?:/\d+)?"
                          r"|(?i:flat|room|house|plot|shop|unit|door|apt|no\.?)\s*[\w/-]+")
#: English verbs whose participle a field is named with and whose other forms a text uses
#: ('ppe_worn' ~ 'was wearing', 'first_aid_given' ~ 'gave him first aid').
_VERBS = [
    "wear wears wearing wore worn", "give gives giving gave given", "take takes taking took taken",
    "see sees seeing saw seen", "make makes making made", "pay pays paying paid", "send sends sending sent",
    "keep keeps keeping kept", "hold holds holding held", "bring brings bringing brought", "buy buys buying bought",
    "find finds finding found", "lose loses losing lost", "tell tells telling told", "sell sells selling sold",
    "drive drives driving drove driven", "write writes writing wrote written", "break breaks breaking broke broken",
    "steal steals stealing stole stolen", "bite bites biting bit bitten", "fall falls falling fell fallen",
    "go goes going went gone"]
IRREGULAR_VERBS = {form: tuple(forms.split()) for forms in _VERBS for form in forms.split()[3:]
                   if len(form) >= 4}
#: Words of a field's name or title that say it holds a phone number.
PHONE_WORDS = {"phone", "mobile", "mob", "tel", "telephone", "cell", "whatsapp"}
#: Words of a field's name that say it holds the title of a work (a talk, a project, a book).
TITLE_WORDS = {"title", "headline"}
#: Opening quote -> its closing quote.
QUOTES = {'"': '"', "“": "”", "‘": "’", "'": "'", "«": "»"}
#: A quoted run: an opening quote not inside a word ("it's" opens nothing), its text, its closing quote.
QUOTED_RE = re.compile(r"(?<![\w])([\"“‘'«])([^\"“”‘’«»\n]{2,200}?)(?:[\"”’»]|(?<=\w)'(?!\w))")
#: Words of a field that say it holds a reason or cause.
REASON_WORDS = {"reason", "reasons", "cause", "causes", "why", "grounds", "motivation", "motive", "purpose"}
#: The score of a rating ('7/10', 'seven out of ten' is not read: only digits before the scale).
RATING_NUM = r"(?P<n>\d{1,2})"
#: A town beside its postcode in an address part: after a 4-6 digit code ('31000 Toulouse') or before a
#: code, with a state's capitals between ('York YO1 7HH', 'Denver CO 80202', 'Mysuru 570001').
#: Street words of other languages an address's first part may hold ('rue', 'Calle', 'Hauptstraße').
STREET_WORDS = re.compile(r"(?i)\b(?:rue|via|calle|avenida|rua|strasse|stra\u00dfe|weg|platz|laan|straat|gatan|ul)\b"
                          r"|(?i:stra(?:ss|\u00df)e|weg|gasse)\b")
_TOWN = rf"[{_UP}][{_LO}]+(?:[ -](?:[{_UP}][{_LO}]+|im|am|de|sur|upon|on)){{0,3}}"
POSTAL_TOWN = re.compile(
    rf",\s+(?:\d{{4,6}}\s+(?P<a>{_TOWN})(?=\s*(?:[,.;)\n]|$))|(?P<b>{_TOWN}),?\s+(?:[A-Z]{{2,3}}\s+)?"
    rf"(?:\d{{3}}\s?\d{{2,3}}|\d{{4,6}}|[A-Z]{{1,2}}\d[A-Z\d]?\s?\d[A-Z]{{2}})(?![\w-]))")
#: A title that is a wh-clause with the writer as its subject ('What you noticed', 'How you found us'), and
#: the words of one that are no verb of it; 'What went wrong' names no verb of the writer's.
WH_TITLE = re.compile(r"(?i)\s*(?:what|how|where|who)\s+(?:you|we|i)\s+(?!is\b|are\b|was\b|kind\b|type\b)")
WH_FILLER = {"you", "your", "did", "does", "do", "or", "and", "about", "us", "we", "i", "it", "they", "was", "were",
             "have", "has", "had", "with", "for", "from", "this", "that"}
#: Words of a field's name or title that say it holds the writer's questions.
QUESTION_WORDS = {"question", "questions", "query", "queries"}
#: An indirect question in a request frame ('we'd like to know if', 'could you tell me whether', 'I was
#: wondering if'); 'I don't know if that matters' or 'let me know if you need anything' asks nothing.
INDIRECT_QUESTION = re.compile(
    r"(?i)\b(?:(?:could|can|would)\s+you\s+(?:please\s+)?tell\s+(?:me|us)|(?:i|we)\s+(?:would|want)\s+"
    r"(?:like\s+)?to\s+know|(?:i|we)['\u2019]d\s+(?:like|love)\s+to\s+know|(?:i|we)(?:['\u2019]m|['\u2019]re|"
    r"\s+am|\s+are|\s+was|\s+were)?\s+wonder(?:ing)?)\s+(?:if|whether)\b")
#: Where a clause starts inside a sentence (after a comma + conjunction, a dash, a colon).
CLAUSE_BREAK = re.compile(r"(?:,\s*(?:so|and|but)?|\s[-\u2013\u2014]\s|:)\s*")
#: A sentence that says what its writer wants to do ('We plan to arrive at 5pm' is a plan, no motivation).
WISH = re.compile(r"(?i:i|we)(?:\s+(?i:really|just|also|would\s+love|would\s+like|'d\s+like|\u2019d\s+like|"
                  r"want|wish)){1,3}\s+to\s")
#: Words of a field that say it holds why the writer wants something (not any 'reason' or 'purpose').
MOTIVE_WORDS = {"motivation", "motivations", "motive", "motives", "why"}
#: The English names of days and months, whose short forms ('mon', 'sept') forms use as options.
CALENDAR_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
                  "february", "march", "april", "may", "june", "july", "august", "september", "october",
                  "november", "december")
#: Words that say when, not what ('yesterday').
WHEN_WORDS = ("yesterday", "today", "tonight", "tomorrow")
#: Words that start no reason ('nobody told us why').
NO_REASON = {"why", "what", "how", "nothing", "anything", "me", "us"}
#: How a text gives a reason: causal words, or what someone said it was (group 'v': the reason).
CAUSE_PATTERNS = [
    re.compile(r"\b(?i:due to|because of|owing to|caused by|on account of)\s+(?P<v>[^.;,()!?]+)"),
    re.compile(r"\b(?i:because)\s+(?P<v>(?i:the|it|they|there|my|our|his|her|their|i|we|he|she)\b[^.;,()!?]+)"),
    re.compile(r"\b(?i:cited|blamed)\s+(?P<v>[^.;,()!?]+)"),
    # what someone said it was ('they told us it was a flat tyre'); a bare 'she said ...' is no reason
    re.compile(r"\b(?:(?i:they|he|she|the\s+[a-z]+)|[A-Z][a-z]+)\s+(?i:said|told\s+(?:us|me))"
               r"[^.;,()]{0,24}?\bit\s+was\s+(?!(?i:due to|because)\b)(?P<v>[^.;,()!?]+)"),
]
#: How a text says something happens for the first time.
FIRST_TIME = re.compile(r"\b(?i:first[- ]time(?:r)?|for the first time|never\b[^.;,]{0,30}\bbefore)\b")
#: Ordinal words, for counts written as ranks ('on the second floor', 'our third child').
ORDINALS = {w: i + 1 for i, w in enumerate(["first", "second", "third", "fourth", "fifth", "sixth", "seventh",
                                            "eighth", "ninth", "tenth"])}
#: Words of a field's name that say "this string describes something in the text's own words".
DESCRIPTIVE_WORDS = {"remarks", "remark", "complaints", "complaint", "circumstances", "circumstance", "desc",
                     "particulars", "explanation", "problem", "issue", "symptoms", "cond", "conditions", "condition",
                     "injuries", "cause", "observations", "findings", "incident"}
#: Words of a field's name that say it names an animal ('pet_name', 'dogName').
PET_WORDS = {"pet", "dog", "cat", "animal", "horse", "puppy", "kitten", "bird", "pony"}
#: Words of an enum field that say its option is a maker whose product a 'model' field names.
MAKER_WORDS = {"make", "brand", "manufacturer", "maker", "marque", "oem"}
#: Words of a field's name that say "this string is an identifier".
CODE_WORDS = {"order", "invoice", "tracking", "reference", "ref", "serial", "sku", "code", "reg", "registration",
              "plate", "vin", "unit", "flat", "apartment", "policy", "account", "acct", "ticket", "case", "passport",
              "licence", "license", "permit", "booking", "reservation", "confirmation", "folio", "mrn", "uhid",
              "bib", "awb", "waybill", "docket", "voucher", "receipt", "pnr", "chassis", "engine"}
#: Words of a number field's name that say it counts people.
PEOPLE_WORDS = {"people", "persons", "person", "guests", "guest", "attendees", "attendee", "adults", "adult",
                "travellers", "travelers", "traveller", "traveler", "participants", "pax", "passengers", "party",
                "occupants", "visitors", "members", "heads", "diners", "riders", "tickets", "seats"}
#: Words of a field's name that say it holds a free text ('booking_notes', 'order_description').
FREE_TEXT_WORDS = {"description", "details", "summary", "comments", "comment", "notes", "note", "message",
                   "narrative", "body"}
#: Words of a field's name that say it holds an attribute of its subject, not an identifier or a name
#: ('engine_type', 'unit_of_measure', 'dog_breed').
ATTRIBUTE_WORDS = {"type", "kind", "category", "class", "measure", "breed", "species", "colour", "color", "size",
                   "status", "mode", "age", "weight", "sex", "gender"}
CATCH_ALL = {"other", "others", "unknown", "misc", "miscellaneous", "none", "n/a", "general"}
CATCH_ALL_PENALTY = 1.0
#: engine -> (question, options) -> option log-likelihoods on an empty text. The prior does not
#: depend on the input, so it is computed once per engine. Weak keys, not ``id(engine)``: a new
#: engine (a model switch) at a reused address must not inherit the old model's priors.
_CALIBRATION: weakref.WeakKeyDictionary[object, dict[tuple, list[float]]] = weakref.WeakKeyDictionary()
#: engine -> step kind -> typical seconds of one such model step in this process (a moving
#: average): the budget's estimate for a step this fill has not made yet. Weak keys: an engine's
#: figures go with it (a new engine at a reused address starts afresh).
_STEP_COST: weakref.WeakKeyDictionary[object, dict[str, float]] = weakref.WeakKeyDictionary()
#: field kinds whose fill may ask the model for that one field (the rest only under the grammar)
MODEL_KINDS = {"person_name", "location", "string", "title", "enum"}
#: a process-wide step estimate that stopped a step shrinks by this factor (once a fill), so the
#: step is tried again after a few fills and its estimate re-measured
STEP_COST_FADE = 0.8


@dataclass
class FillResult:
    """A draft: ``answers`` validate against the schema; ``evidence[f]`` = [start, end] or None."""

    answers: dict
    evidence: dict[str, list[int] | None]
    stats: dict = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class _Stats:
    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.gen_tokens = 0
        self.eval_tokens = 0
        self.llm_calls = 0
        self.ttft_ms: float | None = None
        self.gen_ms = 0.0
        self.t0 = time.perf_counter()
        self.valid = True
        self.missing_required: list[str] = []
        self.budget_s = 0.0
        self.budget_skipped: list[str] = []

    def first_token(self) -> float:
        """Time to the first token/score, stamped on the first call."""
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self.t0) * 1000
        return self.ttft_ms

    def as_dict(self) -> dict:
        total = (time.perf_counter() - self.t0) * 1000
        return {"valid": self.valid, "missing_required": self.missing_required,
                "budget_s": self.budget_s, "budget_skipped": self.budget_skipped,
                "prompt_tokens": self.prompt_tokens, "gen_tokens": self.gen_tokens,
                "evaluated_tokens": self.eval_tokens, "llm_calls": self.llm_calls,
                "ttft_ms": round(self.ttft_ms if self.ttft_ms is not None else total, 1),
                "total_ms": round(total, 1),
                "tokens_per_s": round(self.gen_tokens / (self.gen_ms / 1000), 1) if self.gen_ms else 0.0}


# ---------------------------------------------------------------------------------------
# field classification
# ---------------------------------------------------------------------------------------
def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()) if w]


def field_kind(name: str, spec: dict) -> str:
    """What extractor a property gets, from its type, format, enum and name."""
    words = set(_words(name))
    typ = spec.get("type")
    if typ == "array":
        items = spec.get("items", {})
        if isinstance(items, dict) and "enum" in items:
            return "enum_array"
        return "string_array" if isinstance(items, dict) and items.get("type") == "string" and \
            not items.get("format") and not items.get("pattern") else "unsupported"
    if "enum" in spec or enum_options(spec):
        return "enum"
    if typ == "boolean":
        return "boolean"
    hint = words | set(_words(spec.get("title", "")))
    if typ in ("integer", "number"):
        if hint & {"age", "aged"}:
            return "age"
        if typ == "number" or hint & MONEY_WORDS or set(_words(spec.get("description", ""))) & MONEY_WORDS:
            return "amount" if not hint & COUNT_WORDS else "integer"
        return "integer"
    if typ != "string":
        return "unsupported"
    fmt = spec.get("format")
    if fmt == "email" or words & {"email", "mail"}:
        return "email"
    if fmt == "date":
        return "date"
    if fmt:
        return "string"
    if _time_like(spec, words):
        return "time"
    if (words | set(_words(spec.get("title", "")))) & PHONE_WORDS or \
            (words & {"contact"} and words & {"no", "number", "num", "nr"}):
        return "phone"
    if spec.get("pattern"):
        return "pattern"
    # what the field *is* speaks before what it is about: 'policy_holder_name' is a name,
    # 'case_description' a text, 'engine_type' a kind of engine — none of them an identifier
    named = "name" in words and not words & {"product", "event", "file", "venue", "model", "item"}
    free_text = bool(words & FREE_TEXT_WORDS)  # not 'incident', 'complaint': an incident_ref is a code
    if (words & CODE_WORDS and not (named or free_text or words & ATTRIBUTE_WORDS)) or \
            (words & {"number", "id", "no"} and not words & {"name", "phone"}):
        return "code"
    if words & {"company", "organization", "organisation", "employer", "business", "org", "affiliation"}:
        return "organization"
    if words & PET_WORDS and not words & ATTRIBUTE_WORDS:
        return "pet_name"
    if words & {"model", "variant"} and not words & {"name", "number", "no", "year"}:
        return "model"
    if ("name" in words and not words & {"product", "event", "file", "venue", "model", "item"}) or \
            words & {"reporter", "requester", "submitter", "applicant", "attendee", "participant", "author"} or \
            (words & {"by"} and words & {"reported", "submitted", "filed", "requested", "written", "sent"}) or \
            words in ({"customer"}, {"employee"}, {"contact"}, {"reporter"}, {"guest"}) or \
            (len(words) <= 2 and words & PERSON_ROLES):
        return "person_name"
    if words & {"nationality", "citizenship"}:
        return "nationality"
    if hint & PLACE_WORDS or set(_words(spec.get("description", ""))[:4]) & (PLACE_WORDS - ADDRESS_WORDS) or \
            (words & {"from", "to"} and words & {"arriving", "arrival", "departing", "departure", "coming", "flying",
                                                 "travelling", "traveling", "shipped", "sent", "moving"}):
        return "location"
    if free_text or words & DESCRIPTIVE_WORDS or spec.get("maxLength", 0) >= 150:
        return "long_text"
    person_title = words & {"job", "position", "designation", "role", "honorific", "salutation", "courtesy"}
    return "title" if words & TITLE_WORDS and not person_title else "string"


#: A sentence (a dot before a digit does not end one: 'FIR No. 214/2024', 'Rs. 1,000').
SENTENCE = r"(?:[^.!?;]|\.(?=\s*\d))+[.!?;]?"


def _loose(cue: str) -> str:
    """A cue word as a regex that also matches it hyphenated or spaced ('pickup' ~ 'pick-up', 'pick up')."""
    cue = cue.lower().strip()
    if len(cue) < 5 or not cue.isalpha():
        return re.escape(cue)
    return "".join(re.escape(ch) + "[- ]?" for ch in cue[:-1]) + re.escape(cue[-1])


def _search(pattern: str, value: str) -> bool:
    """Whether a JSON Schema ``pattern`` matches (anywhere, as JSON Schema says); a bad one never does."""
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


def _time_like(spec: dict, words: set[str]) -> bool:
    """A string that holds a time of day: its pattern accepts '09:30' and '21:30', or (no pattern,
    no format) its name says time."""
    pattern = spec.get("pattern")
    if pattern:
        try:
            return all(re.search(pattern, t) for t in ("09:30", "21:30")) and not re.search(pattern, "0930x")
        except re.error:
            return False
    return "time" in words and not words & {"zone", "spent", "period", "full", "part", "times"} and \
        spec.get("maxLength", 5) >= 5


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """A crude stem so 'replacement', 'replaces' and 'replacing' meet ('replac'), and 'smoker',
    'diabetic', 'allergy' meet 'smokes', 'diabetes', 'allergies'."""
    for suffix in ("ments", "ment", "ings", "ing", "ers", "er", "ies", "ics", "ic", "ed", "es", "s", "e", "y"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def enum_options(spec: dict) -> dict[str, str]:
    """String options of a field -> how to say them: ``enum`` values, or ``oneOf``/``anyOf`` of
    ``const`` with a ``title``/``description`` (JSON Schema's way to describe each option)."""
    if isinstance(spec.get("enum"), list):
        return {o: o.replace("_", " ") for o in spec["enum"] if isinstance(o, str)}
    out = {}
    for alt in spec.get("oneOf") or spec.get("anyOf") or []:
        if isinstance(alt, dict) and isinstance(alt.get("const"), str):
            out[alt["const"]] = (alt.get("title") or alt.get("description") or alt["const"]).replace("_", " ")
    return out


def option_descriptions(spec: dict) -> dict[str, list[str]]:
    """What the schema says each option means: ``oneOf``/``anyOf`` ``const`` + ``description``, or
    a field description that defines them ('emergency: danger to people or property now; urgent:
    within a few days; routine: anything else'). Option -> its description's words."""
    options = enum_options(spec)
    out: dict[str, list[str]] = {}
    for alt in spec.get("oneOf") or spec.get("anyOf") or []:
        if isinstance(alt, dict) and isinstance(alt.get("const"), str) and alt.get("description"):
            out[alt["const"]] = _words(alt["description"])
    by_say = {o.lower(): o for o in options} | {said.lower(): o for o, said in options.items()}
    for m in re.finditer(r"([\w -]{1,40}?)\s*[:=]\s*([^;.\n]+)", spec.get("description", "")):
        key = m.group(1).strip().lower()
        if key in by_say and not re.match(r"(?i)\s*(?:anything|everything|all|other|rest)\b", m.group(2)):
            out.setdefault(by_say[key], _words(m.group(2)))
    return out


#: Words that end in 's' and are not plurals, or whose plural is not theirs to strip.
NOT_PLURALS = {"news", "series", "species", "means", "physics", "maths", "mathematics", "economics", "politics",
               "ethics", "athletics", "gymnastics", "electronics", "logistics", "statistics", "diabetes", "measles",
               "mumps", "rabies", "herpes", "scissors", "trousers", "glasses", "jeans", "shorts", "pants", "clothes",
               "goods", "thanks", "billiards", "darts", "always", "perhaps", "towards", "afterwards", "whereas"}


def _singular(word: str) -> str | None:
    """The singular of an English plural noun by its regular inflection ('boxes' -> 'box',
    'parties' -> 'party', 'antiques' -> 'antique'), else None ('news', 'bus', 'glass', 'analysis')."""
    if word in NOT_PLURALS or not re.fullmatch(r"[a-z]{3,}", word):
        return None
    if re.search(r"[^aeiou]ies$", word) and len(word) > 4:
        return word[:-3] + "y"
    if re.search(r"(?:ss|sh|ch|x|z|[^aeiou]o)es$", word):
        return word[:-2]
    if re.search(r"(?:ss|us|is|ous|ics)$", word) or not word.endswith("s"):
        return None
    return word[:-1] if len(word) >= 4 else None


def _cues(name: str, spec: dict) -> list[str]:
    """Cue words for locating a field's value: name + title words, stems and synonyms."""
    return list(_cues_of(name, str(spec.get("title") or ""), str(spec.get("description") or "")))


@functools.lru_cache(maxsize=4096)
def _cues_of(name: str, title: str, description: str) -> tuple[str, ...]:
    """:func:`_cues` by what it reads, cached: the mention scorers ask again for every date or number
    of the text (a text of 1,500 dates asked 37,000 times, 10 s of a fill)."""
    words = [w for w in _words(name) + _words(title) + _words(description)
             if w not in STOP and len(w) > 2]
    cues = set(words) | {ABBREVIATIONS[w] for w in words if w in ABBREVIATIONS}
    for unit in re.findall(r"\(([^)]{1,12})\)", name + " " + title):
        cues.update(_words(unit))  # 'Odometer (km)': a number followed by 'km'
    for label in (_words(name), _words(title)):
        if len(label) == 2:  # 'checkIn' -> 'check-in', 'check in', 'checkin' (its short words count here)
            cues.update(sep.join(label) for sep in ("-", " ", ""))
    for w in words + [ABBREVIATIONS[w] for w in words if w in ABBREVIATIONS]:
        stem = w.rstrip("s")
        cues.add(stem)
        for key, syns in SYNONYMS.items():
            if _same_word(w, key):
                cues.update(s.strip() for s in syns)
                cues.update(s.strip().rstrip("s") for s in syns if len(s.strip()) > 4)
    return tuple(sorted(cues, key=lambda c: (-len(c), c)))  # longest first; ties by text, not by hash


BIRTH_WORDS = {"birth", "dob", "born", "birthday", "birthdate", "bday"}
BIRTH_CUE = re.compile(r"(?i:\bborn\b|\bbirth|\bd\.?o\.?b\b|\bbday\b|\bb\.\s*(?=\d))")
#: Without a cue, a date of birth is the oldest date, at least this long before the form's other dates
#: (or today): a birth comes a year or more before what a form is about; a younger baby's needs its cue.
BIRTH_LEAD_DAYS = 365


def _is_birth(name: str, spec: dict) -> bool:
    """Whether a date field is a date of birth (its name or title says so: 'dob', 'dateOfBirth')."""
    return bool((set(_words(name)) | set(_words(spec.get("title", "")))) & BIRTH_WORDS)


def _counts_people(name: str, spec: dict) -> bool:
    """Whether a number field counts people ('guests', 'party_size', 'No. of travellers')."""
    words = set(_words(name)) | set(_words(spec.get("title", "")))
    # or its description says what it counts first ('Number of people the project will reach')
    said = re.match(r"(?i)\s*(?:the\s+)?(?:number|count|total)\s+of\s+(\w+)", spec.get("description", ""))
    return bool(words & PEOPLE_WORDS) or bool(said and said.group(1).lower() in PEOPLE_WORDS)


def _same_word(word: str, key: str) -> bool:
    """Whether a field's word is a SYNONYMS key: the same word or stem ('guests' ~ 'guest',
    'injuries' ~ 'injur'), a long stem key starting it ('insurance' ~ 'insur'); never a mere
    shared prefix ('petrol' is no 'pet', 'highest' no 'high')."""
    return key in {word, word.rstrip("s"), _stem(word)} or \
        (len(key) >= 5 and word.startswith(key) and len(word) - len(key) <= 4)


def _cue_near(text: str, start: int, end: int, cues: list[str], before: int = 40, after: int = 30) -> int:
    """How strongly cue words occur close to a span (adjacent = 3, nearby = 1; each once)."""
    low = text.lower()
    window_b = low[max(0, start - before):start]
    window_a = low[end:end + after]
    next_words = " ".join(window_a.split()[:3])
    score = 0
    matched: list[str] = []
    for cue in cues:  # longest first, so "drivers" shadows "driver"
        c = cue.lower()
        if any(c in m for m in matched):
            continue
        if re.search(r"(?<![a-z])" + re.escape(c), next_words) or \
                re.search(re.escape(c) + r"(?:\s+(?:on|at|of|is|was|from|by|for|no\.?|nr\.?|number))?[\s:#.-]*$",
                          window_b):
            score += 3
        elif c in window_b or c in window_a:
            score += 1
        else:
            continue
        matched.append(c)
    return score


# ---------------------------------------------------------------------------------------
# the filler
# ---------------------------------------------------------------------------------------
class FormFiller:
    """Fills one schema from one text. Create per call; holds the engine only by reference."""

    def __init__(self, engine: LlamaEngine | None, schema: dict, text: str, *, today: dt.date | None = None,
                 dayfirst: bool = False, calibrate: bool = True, guess_optional_enums: bool = False,
                 on_progress: Callable[[dict], None] | None = None, budget_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.schema = schema
        self.text = text
        self.today = today
        self.dayfirst = dayfirst or ex.writes_day_first(text)
        self.calibrate = calibrate
        self.guess_optional_enums = guess_optional_enums
        self.on_progress = on_progress
        self.stats = _Stats()
        # The time budget (seconds from here, engine time included; 0 = none): deterministic
        # steps always run, a model step only when the budget still holds its expected cost.
        self.clock = clock
        self.deadline = clock() + budget_s if budget_s > 0 else None
        self.stats.budget_s = max(0.0, float(budget_s))
        self._step_cost: dict[str, float] = {}
        self._faded: set[str] = set()  # steps whose process-wide estimate this fill let fade
        self._pending_required: dict[str, str] = {}  # required field -> its model step, kind not yet run
        self.answers: dict = {}
        self.evidence: dict[str, list[int] | None] = {}
        self.methods: dict[str, str] = {}
        self.used: list[tuple[int, int]] = []
        self._cue_cache: dict[str, list[str]] = {}  # per fill: a field's cues and kind never change
        self._kind_cache: dict[str, str] = {}
        self._distinctive: dict[str, set[str]] = {}
        self._ordinals: set[tuple[int, int]] = set()  # spans of ranks read as numbers ('4th', 'second')
        # What the LLM sees is bounded so few-shot prefix + text + question fit the context
        # (2048 tokens); extractors and evidence spans always use the full text.
        self.llm_text = text.strip()[:MAX_LLM_CHARS]

    # -- public ------------------------------------------------------------------------
    def run(self) -> FillResult:
        props: dict = self.schema.get("properties", {})
        required = set(self.schema.get("required", []))
        kinds = {name: field_kind(name, spec) for name, spec in props.items()}
        order = ["email", "date", "time", "phone", "pattern", "amount", "age", "code", "integer", "title",
                 "person_name", "organization", "nationality", "pet_name", "enum", "enum_array", "model", "boolean",
                 "location", "long_text", "string", "string_array", "unsupported"]
        assigned_dates: set[int] = set()
        assigned_emails: set[int] = set()
        amounts = ex.amounts(self.text)
        self._pending_required = {n: "rank" if kinds[n] == "enum" else "extract"
                                  for n in props if n in required and kinds[n] in MODEL_KINDS}
        for i, kind in enumerate(order):
            if kind == "amount":
                self._fill_numbers(props, kinds, amounts)
            names = [n for n in props if kinds[n] == kind]
            if kind == "pattern":  # the most particular pattern first: a PAN before any 8-16 capitals
                names.sort(key=lambda n: len(ex.pattern_matches(self.text, props[n]["pattern"])))
            for name in names:
                spec = props[name]
                if kind == "date":
                    self._fill_from_mentions(name, spec, ex.dates(self.text, self.today, self.dayfirst),
                                             assigned_dates, props, "date")
                elif kind == "email":
                    self._fill_from_mentions(name, spec, ex.emails(self.text), assigned_emails, props,
                                             "email")
                elif kind in ("amount", "integer", "age"):
                    # what the number pass left: a rating on the field's scale, else a quantity
                    if name not in self.answers and kind != "amount" and not self._fill_rating(name, spec, props):
                        self._quantity_of_an_option(name, spec)
                else:
                    getattr(self, f"_fill_{kind}")(name, spec, name in required)
            self._pending_required = {n: st for n, st in self._pending_required.items() if kinds[n] != kind}
            if self.on_progress:
                self.on_progress({"phase": "fields", "done": i + 1, "of": len(order)})
        self._fill_required(props, required)
        self._repair(props, required)
        # a field a later deterministic step answered was not lost to the budget
        self.stats.budget_skipped = [n for n in self.stats.budget_skipped if n not in self.answers]
        return FillResult(answers=self.answers, evidence=self.evidence, stats=self.stats.as_dict(),
                          methods=self.methods)

    # -- helpers -----------------------------------------------------------------------
    @property
    def _model(self) -> LlamaEngine:
        """The engine, for the steps that only run when there is one (extractors need none)."""
        if self.engine is None:
            raise RuntimeError("this fill step needs a model and the filler has none")
        return self.engine

    def _expected_cost(self, step: str) -> float:
        """Seconds a model step of kind ``step`` is expected to take: the cheapest such step of this
        fill so far (later steps reuse the text's KV cache, the first pays its prefill); before
        any, this process's moving average for the engine (a grammar fill costs seconds); else 0."""
        if step in self._step_cost:
            return self._step_cost[step]
        try:
            return _STEP_COST.get(self.engine, {}).get(step, 0.0)
        except TypeError:  # an engine that takes no weak reference has no history
            return 0.0

    def _budget_allows(self, step: str, names: list[str], required: bool) -> bool:
        """Whether a model step of kind ``step`` ('rank', 'extract', 'grammar') fits the time left.

        Required fields come first: an optional field's step must also leave the expected time of
        the required fields' steps still ahead (kinds not yet run, not answered). A step the budget
        does not allow leaves its fields out and lists them in ``stats.budget_skipped``: never guessed.
        """
        if self.deadline is None:
            return True
        need = self._expected_cost(step)
        if not required:
            need += sum(self._expected_cost(st) for n, st in self._pending_required.items()
                        if n not in self.answers and n not in names)
        if self.clock() + need <= self.deadline:
            return True
        self.stats.budget_skipped.extend(n for n in names if n not in self.stats.budget_skipped)
        if step not in self._step_cost and step not in self._faded:
            # judged on the process's history: let it fade (once a fill), so that a slow spell
            # (a loaded host) does not keep the model out for good
            self._faded.add(step)
            try:
                seen = _STEP_COST.get(self.engine, {})
            except TypeError:
                seen = {}
            if step in seen:
                seen[step] *= STEP_COST_FADE
        return False

    def _timed(self, step: str, t0: float) -> None:
        """Record what a model step started at ``t0`` (``self.clock``) cost, for ``_expected_cost``."""
        cost = self.clock() - t0
        self._step_cost[step] = min(cost, self._step_cost.get(step, cost))
        try:
            seen = _STEP_COST.setdefault(self.engine, {})
        except TypeError:
            return
        seen[step] = cost if step not in seen else 0.7 * seen[step] + 0.3 * cost

    def _set(self, name: str, value, span: tuple[int, int] | None, method: str) -> bool:
        """Record an answer, unless it is a string the text does not support (never invent)."""
        spec = self.schema.get("properties", {}).get(name, {})
        if span and (isinstance(value, (bool, list, dict)) or value in enum_options(spec)):
            span = _whole_words(self.text, span)  # an option's stem ('lock' of 'locked') stands for its word
        if not accept_answer(self.text, spec, value, span, today=self.today):
            return False
        self.answers[name] = value
        self.evidence[name] = [span[0], span[1]] if span else None
        self.methods[name] = method
        # only extracted values claim their span; a boolean's sentence or an option's word may still
        # hold another field's value ('at the Malleswaram branch' in the sentence about membership)
        if span and not isinstance(value, (bool, list, dict)) and value not in enum_options(spec):
            self.used.append(span)
        return True

    def _is_used(self, start: int, end: int) -> bool:
        return any(s < end and start < e for s, e in self.used)

    def _fill_from_mentions(self, name: str, spec: dict, mentions: list[ex.Mention], taken: set[int],
                            props: dict, method: str) -> None:
        """Assign one of several same-typed mentions to the field whose cues are closest."""
        if not mentions:
            return
        kind = field_kind(name, spec)
        siblings = [n for n, s in props.items() if field_kind(n, s) == kind]
        cues = _cues(name, spec)
        free = [(i, m) for i, m in enumerate(mentions) if i not in taken]
        birth = kind == "date" and len(siblings) > 1 and any(_is_birth(n, props[n]) for n in siblings)
        born = birth and _is_birth(name, spec)
        # dates of birth (by their cue, else the oldest date) go to the birth fields, the rest to the others
        picks = self._birth_picks(props, siblings, mentions) if birth else set()
        group = [j for j in range(len(mentions)) if (j in picks) == born]
        free = [(i, m) for i, m in free if (i in picks) == born]
        if not free:
            return
        if len(siblings) == 1:
            i, m = max(free, key=lambda im: (_cue_near(self.text, im[1].start, im[1].end, cues), -im[0]))
        else:
            def role_score(field: str, m: ex.Mention) -> int:  # 'from 12 June to 19 June' for a pickup date
                role = self._role(field, props[field])
                said = self._role_before(m.start) if role else None
                return 0 if said is None else 3 if said == role else -3

            def score(field: str, m: ex.Mention) -> int:
                return self._mention_score(field, props, siblings, m) + role_score(field, m)

            own = [(score(name, m), -i, i, m) for i, m in free]
            best = max(own)
            if best[0] == 0:
                # no cue: take mentions in order for fields in schema order, cue-less ones first; the
                # birth fields and the others each in their own order of their own dates
                ordered = [n for n in siblings if (birth and _is_birth(n, props[n])) == born]
                unborn = group
                rank = ordered.index(name)
                if rank >= len(unborn) or unborn[rank] in taken:
                    return
                i, m = unborn[rank], mentions[unborn[rank]]
            else:
                others = [n for n in siblings if n != name]
                m = best[3]
                if any(score(o, m) > best[0] for o in others):
                    return
                i = best[2]
        taken.add(i)
        self._set(name, m.value, (m.start, m.end), method)

    def _birth_cued(self, m: ex.Mention, ends: list[int]) -> bool:
        """Whether a birth cue ('born', 'DOB', 'date of birth', 'b.') is right before a date, in its
        sentence and after any earlier date (``ends``: the dates' ends, sorted)."""
        earlier = bisect.bisect_right(ends, m.start)
        left = max(ends[earlier - 1] if earlier else 0, m.start - 40, 0)
        before = re.split(r"(?<![A-Za-z]\.[A-Za-z])[.;!?]\s", self.text[left:m.start])[-1]
        return bool(BIRTH_CUE.search(before))

    def _birth_picks(self, props: dict, siblings: list[str], mentions: list[ex.Mention]) -> set[int]:
        """Which dates, of a form with a birth field and other date fields, are dates of birth: those a
        birth cue introduces; else the oldest date no other field's cue claims, when it lies
        BIRTH_LEAD_DAYS or more before every other date and today. A ranking, not a filter: these
        dates go to the birth fields first, every other date stays free for the other fields."""
        births = [n for n in siblings if _is_birth(n, props[n])]
        ends = sorted(m.end for m in mentions)
        cued = {i for i, m in enumerate(mentions) if self._birth_cued(m, ends)}
        if cued:
            return cued
        others = [n for n in siblings if n not in births]

        scores = {o: [self._mention_score(o, props, siblings, m) for m in mentions] for o in others + births}
        tops = {o: sorted(scores[o], reverse=True)[:2] for o in others}

        def claimed(i: int) -> bool:  # another field's cue is nearer this date than to any other date
            own = max(scores[b][i] for b in births)
            return any(scores[o][i] > own and scores[o][i] == tops[o][0] and
                       (len(tops[o]) == 1 or tops[o][1] < tops[o][0]) for o in others)

        try:
            days = [dt.date.fromisoformat(m.value) for m in mentions]
        except (ValueError, TypeError):
            return set()
        free = [i for i in range(len(mentions)) if not claimed(i)]
        if not free:
            return set()
        oldest = min(free, key=lambda i: (days[i], i))
        later = [d for j, d in enumerate(days) if j != oldest] + ([self.today] if self.today else [])
        if later and all((d - days[oldest]).days >= BIRTH_LEAD_DAYS for d in later):
            return {oldest}
        return set()

    def _mention_score(self, name: str, props: dict, siblings: list[str], m: ex.Mention) -> int:
        """How strongly a mention belongs to one of several same-kind fields: its cue words near it,
        the words it shares with no sibling counting ('actual' of actualArrival, not 'arrival'), plus
        2 when one is before it in its own sentence ('Pickup: JKIA, 2025-06-03 07:00. Return: ...')."""
        cues = _cues(name, props[name])
        shared = {c for o in siblings if o != name for c in _cues(o, props[o])}
        cues = [c for c in cues if c not in shared] or cues
        before = re.split(r"[.;!?]\s", self.text[max(0, m.start - 40):m.start])[-1].lower()
        said = any(re.search(r"(?<![a-z])" + re.escape(c.lower()), before) for c in cues)
        return _cue_near(self.text, m.start, m.end, cues) + (2 if said else 0)

    def _fill_phone(self, name: str, spec: dict, required: bool) -> None:
        """The phone number nearest the field's cue words ('Emergency: Paul, +44 7700 900789');
        a number too long for ``maxLength`` as written goes in compact form."""
        props = self.schema.get("properties", {})
        cues = _cues(name, spec)
        # only a field that could hold such a number can claim it ('Consumer no.'); 'Whole blood' names
        # an option of another field, not the label of the number after it
        others = [_cues(n, sp) for n, sp in props.items() if n != name and isinstance(sp, dict)
                  and field_kind(n, sp) in ("code", "pattern", "string", "phone")]

        def labelled_for_another(m: ex.Mention) -> bool:  # 'Consumer no. 6677889900' is no phone
            own = _cue_near(self.text, m.start, m.end, cues, before=20, after=0)
            return any(_cue_near(self.text, m.start, m.end, c, before=20, after=0) >= max(3, own + 1) for c in others)

        found = [m for m in ex.phones(self.text) if not self._is_used(m.start, m.end) and not labelled_for_another(m)]
        self._fill_from_mentions(name, spec, found, set(), props, "regex")
        value = self.answers.get(name)
        if not isinstance(value, str):
            return
        pattern = spec.get("pattern")
        if len(value) > spec.get("maxLength", 10**6) or (pattern and not _search(pattern, value)):
            self._unset(name)
            m = next(m for m in found if m.value == value)
            for reading in sorted(ex.normalised_readings(value), key=len, reverse=True):
                if len(reading) <= spec.get("maxLength", 10**6) and (not pattern or _search(pattern, reading)):
                    self._set(name, reading, (m.start, m.end), "regex")
                    return

    def _fill_time(self, name: str, spec: dict, required: bool) -> None:
        """A time of day as 'HH:MM' (24 h), the one nearest the field's cue words."""
        money = ex.amounts(self.text)  # '£12.50' is no 12:50
        found = [m for m in ex.times(self.text) if not self._is_used(m.start, m.end)
                 and not any(a.start < m.end and m.start < a.end for a in money)]
        self._fill_from_mentions(name, spec, found, set(), self.schema.get("properties", {}), "time")

    # -- schema hints: labels, patterns, amounts, ages ----------------------------------
    def _labels(self, name: str, spec: dict) -> list[str]:
        """How the text may label this field: its title, its humanised name, its longer words."""
        title = re.sub(r"\(.*?\)|[?]", "", spec.get("title") or "").strip()
        labels = {title.lower(), " ".join(_words(name))}
        labels.update(w for w in _words(name) + _words(title) if len(w) >= 3 and w not in STOP)
        labels.update(w for w in title.lower().split() if "-" in w.strip("-"))  # 'co-signer' is one word
        long_name = [ABBREVIATIONS.get(w, w) for w in _words(name)]
        if long_name != _words(name):  # 'emg_contact' is labelled 'Emergency contact', 'orgName' 'Organisation'
            labels.add(" ".join(long_name))
            labels.update(w for w in long_name if len(w) >= 5)
        if field_kind(name, spec) == "person_name":
            labels.add("name")
        return sorted((lb for lb in labels if lb), key=len, reverse=True)

    def _labelled(self, name: str, spec: dict) -> list[ex.Mention]:
        """'Label: value' mentions for this field (longest label first), not yet used by another."""
        for label in self._labels(name, spec):
            found = [m for m in ex.labelled_values(self.text, label) if not self._is_used(m.start, m.end)]
            if found:
                return found
        return []

    def _label_words(self, name: str, spec: dict) -> set[str]:
        """The words a text may label this field with: its name's and title's words (plural too) and
        the title's initials ('PS' / 'P.S.' for 'Police station', when the name is those initials)."""
        words = {w for w in _words(name) + _words(spec.get("title", "")) if len(w) >= 3 and w not in STOP}
        title = [w for w in _words(spec.get("title", "")) if w not in STOP]
        initials = "".join(w[0] for w in title[:4])
        if len(title) >= 2 and initials in {w for w in _words(name)} | {"".join(_words(name))}:
            words |= {initials, ".".join(initials) + "."}
        return words | {w + "s" for w in words if w.isalpha() and len(w) >= 3}

    def _clean_value(self, name: str, spec: dict, start: int, end: int) -> tuple[int, int]:
        """Trim what is not the value: a trailing parenthetical, an honorific, a leading article or the
        field's own label words ('Inspector Meena Pillai', 'Pimpri district', 'the Chicago office');
        an institution's noun stays ('Crescent Model School')."""
        own = {w for w in self._label_words(name, spec) if w.rstrip("s") not in INSTITUTIONS}
        while True:
            seg = self.text[start:end]
            before = (start, end)
            paren = re.search(r"\s*\([^()]*\)?\s*$", seg)
            if paren and paren.start() > 0:
                end = start + paren.start()
            hon = HONORIFICS.match(self.text[start:end])
            if hon and hon.end() < end - start:
                start += hon.end()
            words = self.text[start:end].split()
            if len(words) > 1 and words[0].lower() in own | {"the", "our", "your", "my"}:
                start = self.text.index(words[1], start + len(words[0]))
            elif len(words) > 1 and words[-1].lower().strip(".,") in own:
                end = self.text.rindex(words[-2], start, end) + len(words[-2])
            if (start, end) == before:
                return start, end

    def _fill_pattern(self, name: str, spec: dict, required: bool) -> None:
        """A schema ``pattern``: search the text for it; the cue words pick among several matches.
        Nothing as written -> phone numbers and codes in compact form ('98110 23456' for
        ``^[6-9]\\d{9}$``, 'KL 07 CD 1234' for ``^[A-Z]{2}\\d{2}[A-Z]{2}\\d{4}$``)."""
        try:
            full = re.compile(spec["pattern"])
        except re.error:
            return
        # other kinds' values are no code: 'GBP 310', '450 SEK', the year of '23/08/2025', an e-mail's parts
        taken = ex.amounts(self.text) + ex.dates(self.text) + ex.emails(self.text)
        index = ex.SpanIndex(taken)
        direct = [m for m in ex.pattern_matches(self.text, spec["pattern"]) if not self._is_used(m.start, m.end)
                  and not index.overlaps(m.start, m.end)]
        if not _time_like(spec, set()):
            taken += ex.times(self.text)
            index = ex.SpanIndex(taken)
        whole = []
        for m in ex.phones(self.text) + ex.codes(self.text) + self._code_windows():
            if index.overlaps(m.start, m.end):
                continue
            for reading in sorted(ex.normalised_readings(m.value), key=len, reverse=True):
                if full.search(reading) and not self._is_used(m.start, m.end):
                    whole.append(ex.Mention(reading, m.start, m.end))
                    break
        # a code is never cut in half: 'BA 2490' is BA2490, not the '2490' inside it
        wholes = ex.SpanIndex(whole)
        direct = [d for d in direct if not (wholes.overlaps(d.start, d.end) and any(
            w.start <= d.start and d.end <= w.end and w.end - w.start > d.end - d.start for w in whole))]
        found = direct + [w for w in whole if not any(d.start == w.start and d.end == w.end for d in direct)]
        limit = spec.get("maxLength", 10**6)
        found = [m for m in found if spec.get("minLength", 0) <= len(m.value) <= limit]
        if found:
            cues = self._field_cues(name, spec)
            role = self._role(name, spec)

            def score(m: ex.Mention) -> int:
                near = _cue_near(self.text, m.start, m.end, cues)
                near += 2 if _cue_near(self.text, m.start, m.end, cues, before=15, after=0) else 0  # 'flight LH1234'
                if role is not None:  # 'from Manchester (MAN) to Tenerife South (TFS)', 'CPH-ARN'
                    said = self._role_before(m.start)
                    if re.match(r"\s*(?:-|–|→|->)\s*[A-Z0-9]", self.text[m.end:m.end + 6]):
                        said = "from"  # 'CPH-ARN', 'BOM → LHR': a pair says which end each is
                    elif re.search(r"[A-Z0-9]\s*(?:-|–|→|->)\s*$", self.text[max(0, m.start - 6):m.start]):
                        said = "to"
                    near += 3 if said == role else -3 if said is not None else 0
                return near

            scores = {(m.start, m.end, m.value): score(m) for m in found}  # each candidate scored once
            found = [m for m in found if not self._wanted_by_another(name, m, scores[(m.start, m.end, m.value)])]
            if not found:
                return
            m = max(found, key=lambda m: (scores[(m.start, m.end, m.value)], -m.start))
            if _search(spec["pattern"], "12") and not _cue_near(self.text, m.start, m.end, cues):
                return  # a pattern any small number meets ('^[0-9]{1,3}$') says nothing without its cue
            self._set(name, m.value, (m.start, m.end), "pattern")

    def _field_cues(self, name: str, spec: dict) -> list[str]:
        """``_cues`` of a field, once per fill (it is asked for every candidate of every other field)."""
        if name not in self._cue_cache:
            self._cue_cache[name] = _cues(name, spec)
        return self._cue_cache[name]

    def _field_kind(self, name: str, spec: dict) -> str:
        if name not in self._kind_cache:
            self._kind_cache[name] = field_kind(name, spec)
        return self._kind_cache[name]

    def _wanted_by_another(self, name: str, m: ex.Mention, own: int) -> bool:
        """Whether another pattern field, not yet answered, also accepts this value and has its cue
        closer ('PAN FGHPK8899L' is the PAN's, though an 8-16 character ID pattern accepts it too)."""
        for other, sp in self.schema.get("properties", {}).items():
            if other == name or other in self.answers or not isinstance(sp, dict) or not sp.get("pattern") or \
                    self._field_kind(other, sp) != "pattern" or not _search(sp["pattern"], m.value):
                continue
            if _cue_near(self.text, m.start, m.end, self._field_cues(other, sp)) > own:
                return True
        return False

    def _code_windows(self) -> list[ex.Mention[str]]:
        """Runs of two to four capital/digit groups written apart ('BA 2490', 'MH12 20110012345',
        '4521 8873 1290'), each window of them: a pattern checks their compact form. A group that is
        a word of a field's label ('PAN', 'ID') or labels codes ('REF', 'NO') is no part of one."""
        labels = {w.upper() for n, sp in self.schema.get("properties", {}).items() if isinstance(sp, dict)
                  for w in self._label_words(n, sp)} | ex.NOT_CODE_PART
        out: list[ex.Mention[str]] = []
        for run in re.finditer(r"(?<![\w@.])[A-Z0-9]+(?:[ -][A-Z0-9]+)+(?![\w@])", self.text):
            tokens = [(t.start() + run.start(), t.end() + run.start()) for t in re.finditer(r"[A-Z0-9]+", run.group(0))]
            for i in range(len(tokens)):
                if len(out) >= MAX_CODE_WINDOWS:  # a text of nothing but codes is no narrative; its first do
                    return out[:MAX_CODE_WINDOWS]
                for j in range(i + 1, min(len(tokens), i + 4)):
                    window = tokens[i:j + 1]
                    if any(self.text[a:b] in labels for a, b in window):
                        break
                    start, end = window[0][0], window[-1][1]
                    out.append(ex.Mention(self.text[start:end], start, end))
        return out

    def _number_profile(self, name: str, spec: dict, kind: str) -> tuple[bool, str | None]:
        """(is money, unit) of a numeric field from its own words: 'wt_kg' weighs in kg, 'durationDays'
        counts days, 'Notice period (days)' too, 'Expected salary' is money; the name speaks before
        the title, the title before the description."""
        desc = spec.get("description", "")
        hint = set(_words(name)) | set(_words(spec.get("title", "")))
        money = (kind == "amount" and bool((hint | set(_words(desc))) & MONEY_WORDS)) or \
            bool(re.search(r"\((?:rs\.?|inr|usd|eur|gbp|₹|\$|€|£)\)", spec.get("title", ""), re.I))
        unit = "year" if kind == "age" else None
        for text in (name, spec.get("title", ""), desc):
            words = _words(text)
            unit = unit or next((ex.UNIT_WORDS[w] for w in words if w in ex.UNIT_WORDS), None)
        return money, unit

    def _number_candidates(self, amounts: list[ex.Mention]) -> list[ex.Quantity]:
        """Numbers of the text as quantities (with their unit), plus number words ('two adults')."""
        cands = [q for q in ex.quantities(self.text) if not self._is_used(q.start, q.end)]
        for m in ex.numbers(self.text):
            if not self._is_used(m.start, m.end) and not any(q.start < m.end and m.start < q.end for q in cands):
                cands.append(ex.Quantity(float(m.value), None, m.start, m.end))
        for o in re.finditer(r"(?<![\w.,/:-])(\d{1,3})(?:st|nd|rd|th)\b|\b(" + "|".join(ORDINALS) + r")\b",
                             self.text, re.I):
            if not self._is_used(o.start(), o.end()) and not any(q.start < o.end() and o.start() < q.end
                                                                 for q in cands):
                value = int(o.group(1)) if o.group(1) else ORDINALS[o.group(2).lower()]
                cands.append(ex.Quantity(float(value), None, o.start(), o.end()))  # '4th floor', 'second child'
                self._ordinals.add((o.start(), o.end()))
        return [q for q in cands if q.unit is not None or not self._numbers_a_place(q.start, q.end)]

    def _ranks(self, end: int, cues: list[str]) -> bool:
        """Whether the word right after a rank ('4th', 'second') is one of the field's own words."""
        nxt = re.match(r"[\s-]+([A-Za-z]+)", self.text[end:end + 30])
        return nxt is not None and any(nxt.group(1).lower() in (c, c + "s") for c in cues)

    def _described_values(self, spec: dict) -> list[tuple[float, int, int]]:
        """Numbers the field's description defines by a phrase ('0 = ground floor', '1 = first
        visit'), where the text says that phrase."""
        out = []
        for m in re.finditer(r"(-?\d+(?:\.\d+)?)\s*(?:=|:|means)\s*([a-z][a-z' -]{2,40}?)\s*(?=[,;.)]|$)",
                             spec.get("description", ""), re.I):
            phrase = m.group(2).strip().lower()
            for hit in re.finditer(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", self.text.lower()):
                if not self._is_used(hit.start(), hit.end()):
                    out.append((float(m.group(1)), hit.start(), hit.end()))
        return out

    def _numbers_a_place(self, start: int, end: int) -> bool:
        """A digit number that labels a place rather than counts: a house number before its street
        ('14 Oak Road', '22 Rue des Martyrs') or the number of a flat, unit, room, plot ('Flat 9')."""
        if not self.text[start:end].isdigit():
            return False
        if re.match(r"\s+[A-Z][\w'’-]*(?:\s+(?:[A-Z][\w'’-]*|de|des|du|da|del|der|la|le|van|von|the|of))*"
                    r"(?:\s+(?i:" + ex.STREET_NOUNS.pattern + r")|,[^.;\n]{0,40}?(?<!\d)\d{4,6}(?!\d))",
                    self.text[end:end + 60]):  # a street noun or, further on, a postcode ('2 Adults, 1 Child' counts)
            return True
        return bool(re.search(r"\b(?i:flat|unit|room|apt|apartment|suite|plot|house|door|shop|block|no\.?|#)\s*$",
                              self.text[max(0, start - 12):start]))

    def _fill_numbers(self, props: dict, kinds: dict[str, str], amounts: list[ex.Mention]) -> None:
        """Every numeric field at once: each candidate number scores for each field by its unit
        (the field's unit, converted: 'two-week notice' -> 14 days), currency (money fields take
        amounts, others never do), the field's label before it and its cue words around it; then the
        best (field, number) pairs are taken greedily so two fields never share a number.

        A field whose words say 'total' prefers the largest of equal scores (a total is at least
        each of its parts)."""
        ages = ex.ages(self.text)
        fields = [n for n in props if kinds[n] in ("amount", "integer", "age")]
        for name in [n for n in fields if kinds[n] == "age"]:
            self._fill_age_mention(name, props[name], ages)
        cands = self._number_candidates(amounts)
        pairs = []
        for name in fields:
            if name in self.answers:
                continue
            spec = props[name]
            money, unit = self._number_profile(name, spec, kinds[name])
            # prepositions of the field's name say which end, not what is counted ('fromFloor')
            cues = [c for c in _cues(name, spec) if c not in {"from", "into", "onto", "with"}]
            if kinds[name] == "integer" and not money and _counts_people(name, spec):
                # a head count is said with any word for people ('Group size': '12 people', '30 guests')
                cues += sorted(PEOPLE_WORDS - set(cues) - {"tickets", "seats", "party", "heads"}, key=len, reverse=True)
            lo, hi = spec.get("minimum", -math.inf), spec.get("maximum", math.inf)
            labelled = [(m.start, m.end) for m in self._labelled(name, spec)]
            total = "total" in set(_words(name)) | set(_words(spec.get("title", "")))
            role = self._role(name, spec)
            pool: list[tuple[float, int, int, str]] = []
            if money:
                pool += [(float(m.value), m.start, m.end, "amount") for m in amounts
                         if not self._is_used(m.start, m.end)]
            for q in cands:
                if any(a.start < q.end and q.start < a.end for a in amounts):
                    continue
                if kinds[name] != "age" and any(a.start < q.end and q.start < a.end for a in ages) and \
                        (q.unit is None or not unit or ex.convert(q.value, q.unit, unit) is None):
                    continue  # an age is no other field's number, unless it is in the field's unit
                if q.unit is not None:
                    value = ex.convert(q.value, q.unit, unit) if unit else None
                    if value is None:
                        continue
                    pool.append((value, q.start, q.end, "unit"))
                else:
                    pool.append((q.value, q.start, q.end, "number"))
            if _counts_people(name, spec):
                pool += [(1.0, m.start, m.end, "number") for m in ex.one_person_mentions(self.text)
                         if not self._is_used(m.start, m.end)]
            pool += [(v, s, e, "described") for v, s, e in self._described_values(spec)]
            if lo <= 0 and kinds[name] == "integer" and not money:
                pool += [(0.0, s, e, "none") for s, e in self._none_of(self._counted(name, spec))]
                if (set(_words(name)) | set(_words(spec.get("title", ""))) | set(_words(spec.get("description", "")))) \
                        & {"previous", "prior", "past", "before", "earlier"}:
                    # a count of earlier times is 0 for a first time ('first-time donor', 'never donated before')
                    pool += [(0.0, m.start(), m.end(), "none") for m in FIRST_TIME.finditer(self.text)
                             if not self._is_used(m.start(), m.end())]
            for value, start, end, how in pool:
                if not lo <= value <= hi or (spec.get("type") == "integer" and not float(value).is_integer()):
                    continue
                if (start, end) in self._ordinals and not self._ranks(end, cues):
                    continue  # a rank counts only what it ranks: '4th floor', not 'first time donor'
                score = _cue_near(self.text, start, end, cues, before=25, after=25)
                score += 4 if any(s <= start < e + 1 for s, e in labelled) else 0
                score += {"amount": 5, "unit": 6, "number": 0, "described": 2, "none": 3}[how]
                if role is not None:  # 'from the 4th floor ... to the ground floor'
                    said = self._role_before(start)
                    score += 2 if said == role else -4 if said is not None else 0
                if how == "number" and money and not any(s <= start < e + 1 for s, e in labelled):
                    score -= 2  # a bare number is money only when labelled or right by the cue
                if score <= 0:
                    continue
                tie = value if total else -start
                pairs.append((score, tie, name, value, start, end, how))
        done: set[str] = set()
        for _score, _, name, value, start, end, how in sorted(pairs, key=lambda p: (p[0], p[1]), reverse=True):
            if name in done or name in self.answers or self._is_used(start, end):
                continue
            value = int(value) if float(value).is_integer() else value
            if self._set(name, value, (start, end), f"number:{how}"):
                done.add(name)

    def _counted(self, name: str, spec: dict) -> list[str]:
        """What a count counts: the plural nouns of its name and title ('photos', 'Children under 12'),
        not units ('hoursWithoutPower' counts hours, not power), with their synonyms."""
        nouns = [w for w in _words(name) + _words(spec.get("title", ""))
                 if (w.endswith("s") or w in {"children", "people", "men", "women"}) and len(w) > 3
                 and w not in ex.UNIT_WORDS and w not in STOP and w not in COUNT_WORDS - {"items", "units", "pieces"}]
        return [c for c in _cues(" ".join(nouns), {}) if len(c) > 2] if nouns else []

    def _none_of(self, cues: list[str]) -> list[tuple[int, int]]:
        """Where the text says there are none of what a count counts: 'no kids', 'no photos', 'zero
        complaints', 'none of the guests' (the cue word right after the negative)."""
        words = [c for c in cues if len(c) > 2 and re.fullmatch(r"[a-z]+(?: [a-z]+)?", c)]
        if not words:
            return []
        alt = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
        rx = rf"\b(?:no|zero|none of the|not any)\s+(?:[a-z]+\s+)?(?:{alt})(?:s|es)?\b"
        return [(m.start(), m.end()) for m in re.finditer(rx, self.text, re.I) if not self._is_used(m.start(), m.end())]

    def _fill_age_mention(self, name: str, spec: dict, ages: list[ex.Mention]) -> None:
        lo, hi = spec.get("minimum", 0), spec.get("maximum", 150)
        for m in ages:
            if lo <= m.value <= hi and not self._is_used(m.start, m.end):
                self._set(name, m.value, (m.start, m.end), "age")
                return

    def _unset(self, name: str) -> None:
        span = self.evidence.pop(name, None)
        self.answers.pop(name, None)
        self.methods.pop(name, None)
        if span and (span[0], span[1]) in self.used:
            self.used.remove((span[0], span[1]))

    def _fill_code(self, name: str, spec: dict, required: bool) -> None:
        """Identifiers: whole alphanumeric codes nearest the field's cue words; a short one
        ('7A', 'A-14', '901') only right after a cue ('flat 901', 'unit 7A')."""
        cues = _cues(name, spec)
        found = [m for m in ex.codes(self.text) if not self._is_used(m.start, m.end)]
        if not found:
            for hit in re.finditer(r"(?<![\w@.,/-])([A-Z]{0,2}-?\d{1,4}[A-Z]?)(?![\w@/-]|[.,]\d)", self.text):
                before = self.text[max(0, hit.start() - 20):hit.start()].lower()
                if not self._is_used(hit.start(1), hit.end(1)) and \
                        any(re.search(rf"(?<![a-z]){re.escape(c)}\s*(?:no\.?|number|#)?\s*:?\s*$", before)
                            for c in cues):
                    found = [ex.Mention(hit.group(1), hit.start(1), hit.end(1))]
                    break
        if found:
            m = max(found, key=lambda m: (_cue_near(self.text, m.start, m.end, cues), len(m.value)))
            if len(m.value) <= spec.get("maxLength", 10**6):
                self._set(name, m.value, (m.start, m.end), "regex")

    def _fill_rating(self, name: str, spec: dict, props: dict) -> bool:
        """A score on the field's own scale: 'n/M' or 'n out of M' where M is the schema's maximum
        ('about 7/10' for a 0-10 pain field). Of several such fields, each takes the rating its cue
        words are near; a lone field takes a lone rating."""
        top = spec.get("maximum")
        if spec.get("type") != "integer" or not isinstance(top, int) or top < 3:
            return False
        rx = rf"(?<![\w./]){RATING_NUM}\s?(?:/|out\s+of)\s?{top}(?![\w/]|\.\d)"
        found = [m for m in re.finditer(rx, self.text, re.I) if not self._is_used(m.start(), m.end())]
        if not found:
            return False
        scaled = [n for n, s in props.items() if s.get("type") == "integer" and s.get("maximum") == top]
        cues = _cues(name, spec)
        near = [m for m in found if _cue_near(self.text, m.start(), m.end(), cues, before=60) > 0]
        pick = near[0] if near else found[0] if len(found) == 1 and len(scaled) == 1 else None
        if pick is None:
            return False
        value = int(pick.group("n"))  # RATING_NUM is digits only
        if not spec.get("minimum", 0) <= value <= top:
            return False
        return self._set(name, value, (pick.start(), pick.end()), "rating")

    def _quantity_of_an_option(self, name: str, spec: dict) -> None:
        """A quantity field with no cue nearby: a number right before one of the form's enum
        options ('2 monitors', 'Two mobile phones') counts that thing."""
        if not (set(_words(name)) | set(_words(spec.get("title", "")))) & QUANTITY_WORDS:
            return
        lo, hi = spec.get("minimum", -10**9), spec.get("maximum", 10**9)
        other = ex.amounts(self.text) + ex.ages(self.text)
        opts = {str(o).lower().replace("_", " ") for sp in self.schema.get("properties", {}).values()
                if isinstance(sp, dict) for o in (sp.get("enum") or sp.get("items", {}).get("enum") or [])}
        opts = {o for o in opts if len(o) > 2}
        for m in ex.numbers(self.text):
            if self._is_used(m.start, m.end) or not (lo <= m.value <= hi) or \
                    any(o.start < m.end and m.start < o.end for o in other):
                continue
            after = self.text[m.end:m.end + 40].lower()
            if any(re.match(r"\s+(?:[a-z-]+\s+)?" + re.escape(o), after) for o in opts):
                self._set(name, int(m.value), (m.start, m.end), "quantity-of-option")
                return

    def _relative_name(self, name: str, spec: dict) -> bool:
        """A relative's name by how the text relates them ('S/o Mahesh Yadav', 'wife of Hasmukh Patel',
        'my son Aarav Singh') when the field names that relation (father, husband, son, child, student...)."""
        words = set(_words(name)) | set(_words(spec.get("title", "")))
        for rx, relations in ((RELATION_RE, PARENT_WORDS), (CHILD_RE, CHILD_WORDS)):
            if not words & relations:
                continue
            for m in rx.finditer(self.text):
                if not self._is_used(m.start("n"), m.end("n")):
                    return self._set(name, m.group("n")[: spec.get("maxLength", 200)], (m.start("n"), m.end("n")),
                                     "relation")
        return False

    def _fill_person_name(self, name: str, spec: dict, required: bool) -> None:
        if self._relative_name(name, spec):
            return
        relatives = [(m.start("n"), m.end("n")) for rx in (RELATION_RE, CHILD_RE) for m in rx.finditer(self.text)]
        for lab in self._labelled(name, spec):  # 'Guest: Marcus Reed', 'Inspector: Kavita Joshi'
            start, end = self._clean_value(name, spec, lab.start, lab.end)
            lead = LEAD_RELATION.match(self.text, start, end)  # 'Nominee: my son Imran Shaikh'
            if lead and lead.end() < end:
                start = lead.end()
            cut = RELATION_MARK.search(self.text, start, end)  # 'Sunita Devi W/o Rajesh Sharma'
            end = cut.start() if cut else end
            words = self.text[start:end].split()
            if 1 <= len(words) <= 5 and (words[0][:1].isupper() or words[0] in NAME_PARTICLES) and \
                    self._set(name, self.text[start:end][: spec.get("maxLength", 200)], (start, end), "label"):
                return
        own = self._label_words(name, spec) - {"name", "names", "full", "first", "last"}
        # another person field's role word right before a name makes it that field's ('accused X')
        others = set().union(*[self._label_words(n, sp) for n, sp in self.schema.get("properties", {}).items()
                               if n != name and field_kind(n, sp) == "person_name"]) - own - {"name", "names"}

        def role_pattern(words: set[str]) -> str:
            roles = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
            return (rf"\b(?i:{roles})\b[:,]?\s+(?:(?i:mr|mrs|ms|miss|dr|prof)\.?\s+)?"
                    rf"({_NT}(?: {_NT}){{1,2}})(?![\w'’-])")

        own_first = [role_pattern(own)] if own else []
        field_words = {w for n, sp in self.schema.get("properties", {}).items() if isinstance(sp, dict)
                       for w in self._label_words(n, sp)} - {"name", "names", "full", "first", "last"}
        option_words = {str(o).lower() for sp in self.schema.get("properties", {}).values() if isinstance(sp, dict)
                        for o in (sp.get("enum") or []) if isinstance(o, str) and len(o) > 2}
        for pat in [*own_first, *PERSON_PATTERNS, role_pattern(PERSON_ROLES - others), *TITLED_NAME_PATTERNS]:
            for m in re.finditer(pat, self.text):
                before = self.text[max(0, m.start(1) - 25):m.start(1)].lower()
                if others and any(re.search(rf"\b{re.escape(w)}\b", before) for w in others):
                    continue
                cand = m.group(1).strip()
                parts = cand.split()
                if parts[0] in NOT_NAME or any(p in MONTH_WORDS for p in parts) or \
                        re.search(ORG_SUFFIX + r"\b", cand) or not all(p[0].isupper() for p in parts) or \
                        parts[0].lower() in option_words:
                    continue  # 'Hyundai Creta' starts with an option of the form (a make), not a first name
                if any(HONORIFICS.match(p + " ") for p in parts[1:]) or \
                        (parts[0].lower() in field_words and self._used_as_label(m.start(1))) or \
                        self._in_address(m.start(1), m.end(1)):
                    continue  # 'Caller Mrs', 'Nationality Indian', 'B-14, Civil Lines, Jaipur': no names
                if self._is_used(m.start(1), m.end(1)) or self._org_like(m.start(1), m.end(1)) or \
                        any(s <= m.start(1) < e for s, e in relatives) or \
                        re.match(r"\s+(?:[a-z]+\s+)?" + PLACE_NOUN.pattern, self.text[m.end(1):m.end(1) + 30], re.I):
                    continue  # a relative named by their relation is not this person, a station's name neither
                start, end = self._clean_value(name, spec, m.start(1), m.start(1) + len(cand))
                self._set(name, self.text[start:end][: spec.get("maxLength", 200)], (start, end), "pattern")
                return
        self._fill_string(name, spec, required, question="What is the person's name?", kind_hint="person_name")

    def _used_as_label(self, start: int) -> bool:
        """Whether the words at ``start`` are a field's label rather than a name: a word then a colon
        ('Nationality: Indian'), or a field's whole name or title ('Nationality Indian'); a name that
        merely shares a label's word ('Bill Turner' with a bill_amount field) is none."""
        if re.match(r"[\w'’-]+\s*[:=]", self.text[start:]):
            return True
        head = " ".join(_words(self.text[start:start + 60])[:4])
        for n, sp in self.schema.get("properties", {}).items():
            if not isinstance(sp, dict):
                continue
            for label in (_words(n), _words(str(sp.get("title", "")))):
                if label and (head + " ").startswith(" ".join(label) + " "):
                    return True
        return False

    def _in_address(self, start: int, end: int) -> bool:
        """Whether a span is a later part of an address run ('B-14, Civil Lines, Jaipur 302006') or a
        part that names a street-level thing ('Station Road'): an address's words, not a person's."""
        for c in ex.address_chains(self.text):
            if c.start <= start and end <= c.end and c.parts >= 2:
                part_start = self.text.rfind(", ", c.start, start)
                part_end = self.text.find(",", end, c.end)
                part = self.text[part_start + 2 if part_start >= 0 else c.start:part_end if part_end >= 0 else c.end]
                first = self.text[c.start:c.end].split(",")[0]
                if ex.STREET_NOUNS.search(part) or (part_start >= 0 and HOUSE_NUMBER.fullmatch(first.strip())):
                    return True
        return False

    def _org_like(self, start: int, end: int) -> bool:
        """A capitalised pair followed by an org suffix or preceded by 'at'/'from' + org word."""
        tail = self.text[end:end + 20]
        return bool(re.match(r"\s+" + ORG_SUFFIX, tail))

    def _fill_organization(self, name: str, spec: dict, required: bool) -> None:
        pats = [rf"\b([A-Z][\w&-]+(?: [A-Z][\w&-]+)* {ORG_SUFFIX})\b",
                rf"\b({ORG_SUFFIX} of(?: the)? [A-Z][\w&-]+(?: [A-Z][\w&-]+){{0,2}})",  # 'University of Lagos'
                r"\b(?:from|at|work at|works at|working at|employed by|with)\s+"
                r"([A-Z][\w&-]+(?: [A-Z][\w&-]+){0,3})"]
        for pat in pats:
            for m in re.finditer(pat, self.text):
                if self._is_used(m.start(1), m.end(1)):
                    continue
                cand = m.group(1)
                if cand.split()[0] in NOT_NAME or cand in MONTH_WORDS:
                    continue
                if MOVES_FROM.search(self.text[max(0, m.start(1) - 30):m.start(1)]):
                    continue  # 'coming from Lagos', 'based in Toronto': a place, not an employer
                self._set(name, cand[: spec.get("maxLength", 200)], (m.start(1), m.end(1)), "pattern")
                return

    def _fill_location(self, name: str, spec: dict, required: bool) -> None:
        hint = set(_words(name)) | set(_words(spec.get("title", "")))
        # a whole address, not a named place: 'home_town' and 'Workshop location' name one place
        address_like = bool(hint & CHAIN_WORDS) and not hint & (PLACE_WORDS - ADDRESS_WORDS - CHAIN_WORDS)
        chains = self._chains() if address_like else []
        # a labelled address is taken as written, to the end of its run: 'Address: B-14, Civil Lines,
        # Jaipur 302006' holds the PIN another field also reads (a label says where the value is)
        runs = [(c.start, c.end) for c in ex.address_chains(self.text)] if address_like else []
        for m in self._labelled(name, spec):  # 'City: Krakow', 'Origin: Frankfurt'
            start, end = self._clean_value(name, spec, m.start, m.end)
            longer = [c for c in runs if c[0] == start and c[1] > end]  # 'Address: 18/3 Lake Gardens, Kolkata'
            if longer:
                end = longer[0][1]
            if end > start and self._set(name, self.text[start:end][: spec.get("maxLength", 200)], (start, end),
                                         "label"):
                return
        if chains and self._fill_address(name, spec, hint, chains):
            return
        if hint & LANDMARK_WORDS and self._fill_landmark(name, spec):
            return
        if hint & {"city", "town"} and not self._role(name, spec) and self._fill_postal_town(name, spec):
            return
        named_hint = hint | set(_words(spec.get("description", ""))[:4]) | (set(_words(name)) & {"from", "to"})
        if named_hint & (PLACE_WORDS - ADDRESS_WORDS | {"from", "to"}) and \
                self._fill_place_name(name, spec, named_hint):
            return
        named = bool(hint & (PLACE_WORDS - ADDRESS_WORDS))
        title = spec.get("title") or ""
        q = title if title.endswith("?") else (f"What is the {self._label(name, spec)}?" if named
                                               else "Where did it happen?")
        self._fill_string(name, spec, required, question=q, kind_hint="location")
        got = self.answers.get(name)
        if got is not None and PLACE_NOUN.search(got):
            return
        if got is not None and not re.search(r"[A-Z0-9]", got):
            self._unset(name)  # no place noun, no name, no number: 'my credit card details' is no place
            got = None
        cand = self._place_phrase()
        if cand is not None and len(self.text[cand[0]:cand[1]]) <= spec.get("maxLength", 10**6):
            span = self.evidence.get(name)
            if got is not None and span and (span[0], span[1]) in self.used:
                self.used.remove((span[0], span[1]))
            self._set(name, self.text[cand[0]:cand[1]], cand, "pattern")

    def _fill_postal_town(self, name: str, spec: dict) -> bool:
        """The town of a postal address: the name next to its postcode, as addresses are written
        ('2 rue Lafayette, 31000 Toulouse', '5 Oak Lane, York YO1 7HH', 'Denver CO 80202'), only inside
        an address: one another field holds, or right after a house number and a street word ('Invoice
        20231' or 'Sunday 1200' beside a comma is no town)."""
        for m in POSTAL_TOWN.finditer(self.text):
            group = "a" if m.group("a") else "b"
            start, end = m.start(group), m.end(group)
            # a town inside an address another field holds is still its town; inside anything else, not
            inside = any(us <= start and end <= ue for us, ue in self.used)
            if (self._is_used(start, end) and not inside) or self.text[start:end].split()[0] in NOT_NAME:
                continue
            run = re.split(r"[!?;\n]|\.\s+(?=[A-Z])", self.text[max(0, m.start() - 80):m.start()])[-1]
            if not inside and not (re.search(r"\b\d{1,5}[A-Za-z]?\b", run) and
                                   (ex.STREET_NOUNS.search(run) or STREET_WORDS.search(run))):
                continue
            if self._set(name, self.text[start:end], (start, end), "postal-town"):
                return True
        return False

    def _fill_landmark(self, name: str, spec: dict) -> bool:
        """A landmark as people give one: the named thing a place is near, opposite, outside or in
        front of ('opposite the Co-op', 'right outside Café Coffee Day', 'near the Farmacia Central')."""
        for m in LANDMARK_RE.finditer(self.text):
            start, end = m.start(1), m.end(1)
            if self._is_used(start, end) or m.group(1).split()[0] in NOT_NAME:
                continue
            return self._set(name, m.group(1)[: spec.get("maxLength", 200)], (start, end), "landmark")
        return False

    def _chains(self) -> list[tuple[int, int, int, str | None]]:
        """Address-like runs of the text ('45 Gandhi Nagar, Kanpur') as (start, end, score, cue), cut where a
        part holds another field's value ('flat 4B, 27 Elm Road, London SW1A 1AA' -> '27 Elm Road,
        London' once 4B and the postcode are taken). A lone part must name a street-level thing or
        carry a number ('Mahesh Yadav' alone is no address)."""
        out = []
        for c in ex.address_chains(self.text):
            parts, pos = [], c.start
            for piece in self.text[c.start:c.end].split(", "):
                parts.append((pos, pos + len(piece)))
                pos += len(piece) + 2
            while parts and self._is_used(*parts[0]):
                parts.pop(0)
            kept = []
            for s, e in parts:
                if self._is_used(s, e):
                    cut = min(us for us, ue in self.used if us < e and s < ue)
                    if cut > s and self.text[s:cut].strip():
                        kept.append((s, s + len(self.text[s:cut].rstrip(" ,"))))
                    break
                kept.append((s, e))
            if not kept:
                continue
            start, end = kept[0][0], kept[-1][1]
            tail = re.match(r"(?:\s+[a-z][\w'’-]*){0,2}?\s+" + PLACE_NOUN.pattern, self.text[end:end + 40], re.I)
            if tail and not self._is_used(end, end + tail.end()):
                end += tail.end()  # 'Elm Street community centre', 'Saki Naka metro station junction'
            seg = self.text[start:end]
            street, digit = bool(ex.STREET_NOUNS.search(seg)), bool(re.search(r"\d", seg))
            if len(kept) == 1 and (not street or not re.search(r"(?<![\w'’-])[A-Z]", seg)):
                continue  # a lone part names a street-level thing by a proper name: '4th floor' is none
            out.append((start, end, min(len(kept), 4) + 2 * street + digit, c.cue))
        return out

    def _fill_address(self, name: str, spec: dict, hint: set[str],
                      chains: list[tuple[int, int, int, str | None]]) -> bool:
        """An address or a place of an event as the best address-like run: where the person lives
        ('resident of', 'R/o', 'we live at') for a home address, after 'at'/'in'/'near' for where
        something happened; a run with several parts, a street word and a number is more address-like."""
        home = bool(hint & HOME_WORDS)
        role = self._role(name, spec)
        best = None
        for start, end, base, cue in chains:
            lead = re.match(r"(\w+)\s+", self.text[start:end])  # 'Address 17, Lake View Road'
            if lead and lead.group(1).lower() in self._label_words(name, spec):
                start += lead.end()
            score = base + ((4 if cue == "home" else 1 if cue == "at" else 0) if home
                            else (3 if cue == "at" else -2 if cue == "home" else 0))
            if role is not None:  # 'from 22 Rue des Martyrs, Paris to 5 Place Bellecour, Lyon'
                said = self._role_before(start)
                score += 4 if said == role else -4 if said is not None else 0
            if score >= 4 and (best is None or score > best[0]):
                best = (score, start, end)
        if best is None or best[2] - best[1] > spec.get("maxLength", 10**6):
            return False
        return self._set(name, self.text[best[1]:best[2]], (best[1], best[2]), "address")

    def _role(self, name: str, spec: dict) -> str | None:
        """'from' or 'to' when the field is one end of a move ('fromAddress', 'pickup_location',
        'destination'), from its name's words, else its title's and description's."""
        words = _words(name)
        if "from" in words or "to" in words:
            return "from" if "from" in words else "to"
        hint = set(words) | set(_words(spec.get("title", ""))) | set(_words(spec.get("description", "")))
        return next((ROLE_PREPOSITIONS[w] for w in sorted(hint) if w in ROLE_PREPOSITIONS), None)

    def _role_before(self, start: int) -> str | None:
        """Which end of a move the text puts a span at: the last 'from'/'out of' or 'to'/'into'
        before it in its sentence (within 60 characters)."""
        before = re.split(r"[.!?;]\s", self.text[max(0, start - 60):start])[-1]
        marks = list(re.finditer(r"\b(?:(from|out of|leaving)|(to|into|towards))\b", before, re.I))
        if not marks:
            return None
        return "from" if marks[-1].group(1) else "to"

    def _fill_pet_name(self, name: str, spec: dict, required: bool) -> None:
        """An animal's name, one capitalised word as people write it: after 'my/our <kind>' ('My cat
        Luna', 'our guinea pig Pepper'), or before what describes it ('Kiwi, a budgie', 'Bella (German
        Shepherd', 'Leo the bearded dragon', 'Thumper, 2 years'), or after 'for' ('for Oscar')."""
        for m in self._labelled(name, spec):
            if re.fullmatch(r"[A-Z][\w'’-]*", m.value) and self._set(name, m.value, (m.start, m.end), "label"):
                return
        word = r"([A-Z][a-z]+(?:[- ][A-Z][a-z]+)?)"
        pats = [rf"\b(?i:my|our|his|her)\s+(?:[a-z]+\s+){{1,2}}{word}\b(?![\w'’-])",
                rf"\b{word}(?=,\s+(?:a|an|my|our|his|her)\b|\s+\((?:[A-Za-z]+,|[A-Z])|\s+the\s+[a-z]|,\s+\d)",
                rf"\b(?:for|book|booking|bring(?:ing)?)\s+{word}\b(?![\w'’-])"]
        options = {str(o).lower() for sp in self.schema.get("properties", {}).values() if isinstance(sp, dict)
                   for o in (sp.get("enum") or [])}
        for pat in pats:
            for hit in re.finditer(pat, self.text):
                cand = hit.group(1)
                if cand.split()[0] in NOT_NAME or cand in MONTH_WORDS or cand.lower() in options or \
                        self._is_used(hit.start(1), hit.end(1)) or cand.lower() in PET_WORDS:
                    continue
                if self._set(name, cand[: spec.get("maxLength", 80)], (hit.start(1), hit.end(1)), "pattern"):
                    return

    def _fill_model(self, name: str, spec: dict, required: bool) -> None:
        """A product's model, written right after its maker ('Maruti Swift', 'Tata Nexon EV', 'Hyundai
        i20'): the word or two after the evidence of the form's make/brand answer."""
        for other in self.schema.get("properties", {}):
            span = self.evidence.get(other)
            if not span or other not in self.answers or not set(_words(other)) & MAKER_WORDS:
                continue
            m = re.match(r"\s+((?=[\w-]*[A-Z0-9])[A-Za-z0-9][\w-]*(?:\s+(?=[\w-]*[A-Z0-9])[A-Za-z0-9][\w-]*)?)",
                         self.text[span[1]:])
            if not m:
                continue
            start, end = span[1] + m.start(1), span[1] + m.end(1)
            words = self.text[start:end].split()
            while words and (self._is_used(start, start + len(" ".join(words))) or words[-1] in NOT_NAME):
                words.pop()  # 'Swift MH12AB1234': the registration is another field's
            if words and words[0] not in NOT_NAME and \
                    self._set(name, " ".join(words)[: spec.get("maxLength", 80)], (start, start + len(" ".join(words))),
                              "after-maker"):
                return

    def _fill_nationality(self, name: str, spec: dict, required: bool) -> None:
        """A nationality as the text writes it: after its label ('Nationality: Indian'), before
        'national'/'citizen' ('Chinese national'), or a demonym-shaped word standing alone in the
        sentence ('Omar Haddad, Jordanian, passport ...')."""
        for m in self._labelled(name, spec):
            if m.value[:1].isupper() and self._set(name, m.value.split(",")[0][: spec.get("maxLength", 60)],
                                                   (m.start, m.start + len(m.value.split(",")[0])), "label"):
                return
        demonym = r"[A-Z][a-z]+(?:an|ese|ish|i|ch|ic)"
        pats = [rf"\b(?i:nationality|citizenship)\s*(?:is\s+)?:?\s*({_NT}(?: {_NT})?)",
                rf"\b({demonym})\s+(?i:national|citizen|passport(?:\s+holder)?)\b",
                rf"\b(?i:citizen|national)\s+of\s+({_NT}(?: {_NT})?)",
                rf"(?<=, )({demonym})(?=,|\s+(?:passport|national|citizen)\b)"]
        for pat in pats:
            for hit in re.finditer(pat, self.text):
                if not self._is_used(hit.start(1), hit.end(1)) and hit.group(1) not in NOT_NAME and \
                        self._set(name, hit.group(1)[: spec.get("maxLength", 60)], (hit.start(1), hit.end(1)),
                                  "pattern"):
                    return

    def _fill_place_name(self, name: str, spec: dict, hint: set[str]) -> bool:
        """A named place (city, district, branch, origin, destination): proper nouns after a
        preposition or before the field's own label word ('Pune office', 'Yaba branch'), the field's
        role preposition first ('from' for an origin, 'to' for a destination); of equal ones the first.

        The model used to rank ties: on dev + seen forms it chose right 10 times in 21, the first
        candidate 14 times, and each ranking cost a model call."""
        own = self._label_words(name, spec)  # 'Hospital: ...' names the field, not the place
        cands = [(score, span) for score, span in self._place_candidates(name, spec, hint)
                 if not set(_words(self.text[span[0]:span[1]])) <= own]
        if not cands:
            return False
        top = max(score for score, _ in cands)
        span = next(span for score, span in cands if score == top)
        start, end = self._clean_value(name, spec, *span)
        return self._set(name, self.text[start:end][: spec.get("maxLength", 200)], (start, end), "place-candidates")

    def _place_candidates(self, name: str, spec: dict, hint: set[str]) -> list[tuple[int, tuple[int, int]]]:
        proper = r"([A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){0,2})"
        own = sorted((self._label_words(name, spec) | PLACE_NOUNS_AFTER) - INSTITUTIONS, key=len, reverse=True)
        if set(_words(name)) & INSTITUTIONS:  # 'Delhi Public School': the noun is part of the name
            add_inst = "|".join(sorted(INSTITUTIONS, key=len, reverse=True))
        else:
            add_inst = ""
        hint = hint | set(_words(spec.get("description", "")))
        role = "from" if "from" in _words(name) else "to" if "to" in _words(name) else \
            next((ROLE_PREPOSITIONS[w] for w in hint if w in ROLE_PREPOSITIONS), None)
        options = {str(o).lower().replace("_", " ") for sp in self.schema.get("properties", {}).values()
                   if isinstance(sp, dict) for o in sp.get("enum", [])}
        found: dict[tuple[int, int], int] = {}
        # a site (a pickup point, a venue) is named with its noun; a town, district or country is not
        site = not hint & SETTLEMENT_WORDS
        cues = [c for c in _cues(name, spec) if len(c) >= 4]

        others = set().union(*[self._label_words(n, sp) for n, sp in self.schema.get("properties", {}).items()
                               if n != name and isinstance(sp, dict)]) - set(own)

        def add(rx: str, score: int, flags: int = 0) -> None:
            for m in re.finditer(rx, self.text, flags):
                start, end = m.start(1), m.end(1)
                while end > start and self.text[end - 1] in "'’":
                    end -= 1  # "in Tamale'": the closing quote of a title
                words = self.text[start:end].split()
                while words and (words[-1].lower() in own or words[-1] in MONTH_WORDS):
                    words.pop()
                if not words or words[0] in NOT_NAME or words[0] in MONTH_WORDS or re.search(r"\d", words[0]) or \
                        " ".join(words).lower() in options or words[0].upper() in ex.CURRENCY_CODES.split("|"):
                    continue
                end = start + len(" ".join(words))
                if WORKS_AT.search(self.text[max(0, start - 40):start]):
                    continue  # 'an SRE at Nordlys Energy', 'works for Acme': an employer, not a place
                if self.text[start:end] != " ".join(words) or self._is_used(start, end) or \
                        words[0].lower().rstrip(".") in others or re.match(r"\s+\d", self.text[end:]):
                    continue  # another field's label ('PS'), or an address part before its number ('Plot 17')
                for _ in range(2 if site else 0):  # 'Nice airport, Terminal 2', 'Dublin city centre depot'
                    tail = SITE_TAIL.match(self.text, end)
                    if not tail or self._is_used(end, tail.end()):
                        break
                    end = tail.end()
                if end == start + len(" ".join(words)) and len(words) == 1 and words[0].isupper():
                    continue  # 'CEO', 'ID': capitals alone are no place unless a site noun follows them
                # the field's word just before, then a preposition: 'picking up at Faro Airport', 'drop it
                # off at Inverness Airport' (a label word right before names the next field's place)
                near = _cue_near(self.text, start, end, cues, before=30, after=0) and \
                    re.search(r"\b(?:at|in|from|to|into|near|outside|on|by)\s+(?:the\s+)?$", self.text[:start])
                found[(start, end)] = max(score + (3 if near else 0), found.get((start, end), 0))

        # where someone lives or is based is where they come from ('I live in Tallinn', 'based in Tel Aviv')
        add(r"\b(?i:live|lives|living|based|resident|residing|located|settled)\s+(?:in|at)\s+" + proper,
            4 if role == "from" else 3)
        if role == "from":
            add(r"\b(?i:coming|com(?:e|es)|travel(?:l)?ing|flying|driving|arriving|moving)\s+(?:in\s+)?from\s+"
                r"(?:the\s+)?" + proper, 4)
            add(r"\bfrom\s+(?:the\s+)?" + proper, 3)
            add(proper + r"\s+(?:to|->|→)\s+[A-Z]", 3)
        elif role == "to":
            add(r"\b(?:to|reached|into|arrived (?:at|in))\s+(?:the\s+)?" + proper, 3)
            add(r"\b(?:delivered|arrived)\b[^.]*?\bin\s+" + proper, 2)
        own_rx = "|".join(re.escape(w) for w in own)
        if add_inst:
            add(rf"((?:[A-Z][\w'’-]*\s+){{0,3}}(?i:{add_inst})s?)\b(?:,\s+[A-Z][a-z]+\b(?!\s+[A-Z]))?", 4)
            add(rf"((?:[A-Z][\w'’-]*\s+){{0,3}}(?i:{add_inst})s?,\s+[A-Z][a-z]+)\b(?![\w-]|\s+[A-Z])", 4)
        add(proper + rf"\s+(?i:{own_rx})\b", 3)
        add(rf"\b(?i:{own_rx})\s+(?:is\s+)?" + proper, 2)
        add(r"\b(?:in|at|from|near|to|for|of)\s+(?:the\s+|our\s+|your\s+)?" + proper, 1)
        # 'Mark Jensen here (Copenhagen)': a name in brackets, only when nothing better is there ('(React)')
        add(r"[A-Za-z]\s+\(\s*" + proper + r"\s*\)", 0)

        # after a unit number: '901, Skyline Heights,'
        add(r"(?<![\w-])[A-Z]?-?\d+[A-Z]?,\s+" + proper + r"(?=[,.;]|\s+[a-z])", 1)
        if role == "from":  # an origin is never what follows "to"
            for m in re.finditer(r"\bto\s+(?:the\s+)?" + proper, self.text):
                found.pop((m.start(1), m.end(1)), None)
        return sorted(((sc, sp) for sp, sc in found.items()), key=lambda x: (-x[0], x[1][0]))

    def _place_phrase(self) -> tuple[int, int] | None:
        """First prepositional phrase naming a place ('on the number 12 bus'), as a fallback
        when the model's answer is missing or names no place."""
        for m in PLACE_RE.finditer(self.text):
            phrase = m.group(1)
            if PLACE_NOUN.search(phrase) and not self._is_used(m.start(1), m.end(1)):
                return m.start(1), m.end(1)
        return None

    def _fill_long_text(self, name: str, spec: dict, required: bool) -> None:
        """A description in the text's own words: what follows the field's label, to the end of its
        sentence ('Circumstances: an extension lead overheated ...'). Without a label nothing is
        filled: letting the model rank the text's clauses (by mean log-likelihood, with a 'none'
        option) found 15 right descriptions on the seen forms but put 33 where none was
        expected, and cost a model call per field."""
        limit = spec.get("maxLength", 10**6)
        words = set(_words(name)) | set(_words(spec.get("title", "")))
        reason = bool(words & REASON_WORDS)
        ordered = dict.fromkeys(_words(name) + _words(spec.get("title", "")))  # in order: one answer per run
        extra = [w for w in (_singular(x) for x in ordered if len(x) >= 4 and x not in STOP) if w]
        for m in self._labelled(name, spec) or self._labelled_by(extra + (["why"] if reason else [])):
            start, end = self._unquote(m.start, self._sentence_end(m.end))
            if 0 < end - start <= limit and self._set(name, self.text[start:end], (start, end), "label"):
                return
        if words & QUESTION_WORDS:
            self._fill_question(name, spec)
        elif reason:
            self._fill_cause(name, spec) or (bool(words & MOTIVE_WORDS) and self._fill_wish(name, spec))
        elif WH_TITLE.match(spec.get("title", "")):
            self._fill_by_title_verb(name, spec)

    def _fill_by_title_verb(self, name: str, spec: dict) -> bool:
        """A title that is a wh-clause ('What you noticed', 'How you found us') names what
        the text says by its verb: the clause from the writer's pronoun and that verb to the end of
        its sentence ('... when I noticed a drone circling' -> 'I noticed a drone circling'), holding
        no other field's value, no number and no day or month (that sentence says when, not what)."""
        limit = spec.get("maxLength", 10**6)
        verbs = [w for w in _words(spec.get("title", ""))[1:] if len(w) >= 3 and w not in STOP and w not in WH_FILLER]
        for start, end in self._sentences():
            body = self.text[start:end]
            hit = min((m for w in verbs for m in re.finditer(rf"(?<![\w'’-]){re.escape(w)}(?![\w'’-])", body, re.I)),
                      key=lambda m: m.start(), default=None)
            if hit is None:
                continue
            lead = re.search(r"(?i:\b(?:i|we))\s+$", body[:hit.start()])
            if lead is None:
                continue
            s0 = start + lead.start()
            e0 = start + len(body.rstrip(" .!;"))
            clause = self.text[s0:e0]
            if re.search(r"\d", clause) or re.search(rf"(?i)\b(?:{'|'.join(CALENDAR_NAMES + WHEN_WORDS)})s?\b", clause):
                continue
            if self._holds_an_answer(s0, e0) or self._is_used(s0, e0) or e0 - s0 > limit:
                continue
            if self._set(name, self.text[s0:e0], (s0, e0), "title-verb"):
                return True
        return False

    def _labelled_by(self, labels: list[str]) -> list[ex.Mention]:
        """'Label: value' mentions for other labels than the field's own (a plural field's singular:
        'Note:' for notes), not yet used by another field."""
        for label in labels:
            found = [m for m in ex.labelled_values(self.text, label) if not self._is_used(m.start, m.end)]
            if found:
                return found
        return []

    def _sentences(self) -> list[tuple[int, int]]:
        """The text's sentences as spans, trimmed of spaces (a dot before a digit ends none)."""
        out = []
        for m in re.finditer(SENTENCE, self.text):
            start = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
            end = m.start() + len(m.group(0).rstrip())
            if end > start:
                out.append((start, end))
        return out

    def _holds_an_answer(self, start: int, end: int) -> bool:
        """Whether a span holds another field's evidence: such a sentence states that field, not this one."""
        return any(ev and start <= ev[0] < end for ev in self.evidence.values())

    def _fill_question(self, name: str, spec: dict) -> bool:
        """Questions the writer asks, for a field about questions: the first sentence that ends in a
        question mark, or the clause that asks indirectly ('we'd like to know if ...', 'could you tell
        me whether ...'), that states no other field's value ('Would you have 3 May free?' asks for
        the date field)."""
        limit = spec.get("maxLength", 10**6)
        for start, end in self._sentences():
            body = self.text[start:end]
            ask = INDIRECT_QUESTION.search(body)
            if not ask and (not body.endswith("?") or len(body.split()) < 3):
                continue  # 'Why?' alone is rhetoric, not a question for the form
            if ask and not body.endswith("?"):  # the clause that asks, not its lead-in
                cut = [c.end() for c in CLAUSE_BREAK.finditer(body, 0, ask.start())]
                start += cut[-1] if cut else 0
                end = start + len(self.text[start:end].rstrip(" .,;!"))
            if self._holds_an_answer(start, end) or self._is_used(start, end) or end - start > limit:
                continue
            if self._set(name, self.text[start:end], (start, end), "question"):
                return True
        return False

    def _fill_wish(self, name: str, spec: dict) -> bool:
        """A motivation as writers give one: the sentence that says what they want to do ('I want to
        teach children to swim.', 'We would like to ...'), stating no other field's value nor any
        date, time or number (a sentence holding one is a plan: 'We want to arrive on 3 May')."""
        limit = spec.get("maxLength", 10**6)
        for start, end in self._sentences():
            if WISH.match(self.text, start) and not re.search(r"\d", self.text[start:end]) and \
                    not ex.dates(self.text[start:end], self.today) and not self._holds_an_answer(start, end) and \
                    not self._is_used(start, end) and end - start <= limit and \
                    self._set(name, self.text[start:end], (start, end), "wish"):
                return True
        return False

    def _fill_cause(self, name: str, spec: dict) -> bool:
        """A reason or cause as the text gives one: what follows 'due to', 'because (of)', 'cited',
        or what someone said it was ('The crew said it was due to a technical problem', 'they told
        us at the gate it was a crew shortage'), to the end of its clause."""
        for rx in CAUSE_PATTERNS:  # the plainest way of giving a reason first
            for m in rx.finditer(self.text):
                start, end = m.start("v"), m.end("v")
                cut = re.search(r"\s+(?:and|but|so|which|while)\s", self.text[start:end])
                end = start + cut.start() if cut else end
                end = start + len(self.text[start:end].rstrip(" .,;!?"))
                value = self.text[start:end]
                if len(value) < 5 or value.split()[0].lower() in NO_REASON or self._is_used(start, end) or \
                        end - start > spec.get("maxLength", 10**6):
                    continue  # 'Nobody told us why' gives no reason
                return self._set(name, value, (start, end), "cause")
        return False

    def _sentence_end(self, pos: int) -> int:
        """Where the sentence (or line, or '|'-separated cell) that runs through ``pos`` ends: a label's
        free-text value runs past commas and semicolons ('Actual: the CSV has 117 rows; every ... is
        missing.'), not past a full stop ('4.2.1' is no full stop)."""
        stop = re.search(r"\.(?=\s|$)|[\n|]|$", self.text[pos:])
        end = pos + (stop.start() if stop else 0)
        return len(self.text[:end].rstrip(" .,;"))

    # -- enums -------------------------------------------------------------------------
    def _option_forms(self, option: str, field_words: set[str]) -> tuple[set[str], set[str]]:
        """(lower-case phrases, case-sensitive tokens) that mean this option in a text: the option,
        its spacing variants ('Blue Dart' for bluedart), its initials ('HR', 'XL'), a British/US
        spelling, synonyms; for sex/gender fields the words for it ('woman' for F)."""
        low = option.lower()
        phrases = {low, low.replace("_", " "), low.replace("_", "-"), re.sub(r"licen[cs]e", "licence", low)}
        single = _singular(low)
        if single:
            phrases.add(single)  # a plural option is named in the singular too ('boxes': 'a box')
        if low not in CUE_ONLY_SYNONYMS:
            phrases.update(s.lower() for s in SYNONYMS.get(low, []))
        tokens: set[str] = set()
        parts = [p for p in re.split(r"[_\s-]+", low) if p]
        if len(parts) == 1 and len(low) >= 5 and len(_stem(low)) >= 4:
            phrases.add(_stem(low) + "*")  # 'locks' -> 'lock*' (locked), 'heating' -> 'heat*' (heater)
            nominal = re.fullmatch(r"([a-z]{4,}?)(?:ation|ition|ion)", low)
            if nominal:
                phrases.add(nominal.group(1) + "*")  # 'cancellation' -> 'cancell*' (cancelled)
            if low.endswith("al") and len(low) >= 8:
                phrases.add(low[:-2] + "*")  # 'electrical' -> 'electric*' (electrician)
        if len(parts) >= 2:
            tokens.add("".join(p[0] for p in parts).upper())
        elif len(low) >= 6 and low.isalpha():
            phrases.update(low[:i] + " " + low[i:] for i in range(3, len(low) - 2))
        if field_words & {"sex", "gender"}:
            key = {"m": "male", "f": "female", "x": "non_binary", "nb": "non_binary"}.get(low, low)
            phrases.update(SEX_WORDS.get(key, []))
            if key in ("male", "female"):
                tokens.update({key[0].upper(), key[0]})  # 'Lukas Brandt, m, 1999-12-24' (between commas only)
            if len(low) == 1:
                phrases.discard(low)
        elif len(option) <= 2 and option.isalpha():
            phrases.discard(low)
            tokens.add(option)
        counted = re.fullmatch(r"(\d{1,2})([a-z]{2,})", parts[0]) if parts else None
        if counted:  # '2bed' is written '2-bed', '2 bedroom', 'two-bedroom'
            n, noun = counted.groups()
            spelled = [w for w, v in ex.NUMBER_WORDS.items() if v == int(n) and " " not in w][:1]
            for num in [n, *spelled]:
                phrases.update(f"{num}{sep}{noun}*" for sep in ("-", " ", ""))
        if low in UNKNOWN_OPTIONS:
            phrases.update(UNKNOWN_SAID)
        return phrases, tokens

    def _lexical_hits(self, option: str, field_words: set[str] | None = None,
                      cues: list[str] | None = None) -> list[tuple[int, int]]:
        """Spans where an enum option (or its synonyms / word stems) occurs in the text. Short
        case-sensitive forms ('M', 'HR', 'C') count only next to the field's cue words, after a
        label, or in an age/sex bracket ('(M, 40)', '45, M')."""
        low = self.text.lower()
        phrases, tokens = self._option_forms(option, field_words or set())
        distinctive = self._distinctive.get(option, set())
        phrases.update(w for w in distinctive if len(w.rstrip("*")) >= 3)
        tokens.update(w.upper() for w in distinctive if len(w) == 2)
        hits = []
        sex = bool((field_words or set()) & {"sex", "gender"})
        for tok in tokens:
            # '19M', '40F': clinicians write age and sex as one token
            lead = r"(?<![A-Za-z0-9])" if not (sex and len(tok) == 1) else r"(?:(?<![A-Za-z0-9])|(?<=\b\d)|(?<=\b\d\d))"
            for m in re.finditer(lead + re.escape(tok) + r"(?![A-Za-z0-9])", self.text):
                near = cues and _cue_near(self.text, m.start(), m.end(), cues, before=20, after=12) >= 3
                near = near or (len(tok) >= 2 and tok.isupper())  # 'HR', 'XL': initials in capitals
                near = near or (sex and bool(re.search(r"(?<![\d.])\d{1,3}$", self.text[:m.start()])))  # '19M'
                bracket = (re.search(r"[(,]\s*$", self.text[:m.start()]) and
                           re.match(r"\s*[,)]", self.text[m.end():]) and
                           # a number or date beside it ('(M, 40)', 'Ana, F, DOB 1999-12-24'); a small
                           # letter only as its neighbour ('Ana, f, 1999-12-24'); 'Sizes: S, M, L' and
                           # 'Height (m): 1.8' are none
                           ((tok.isupper() and re.search(r"\d", self.text[max(0, m.start() - 6):m.end() + 12])) or
                            re.search(r"\d[\d/.-]*\s*[(,]\s*$", self.text[max(0, m.start() - 14):m.start()]) or
                            re.match(r"\s*,\s*\d", self.text[m.end():m.end() + 4]))) or \
                    re.search(r"\d\s?(?:y/o|yo|yrs?|years? old)\s*,?\s*$", self.text[:m.start()])
                if tok.islower() and not bracket:
                    continue  # a small 'm' is a sex only set apart by commas or brackets (else metres)
                if near or bracket or (re.search(r":\s*$", self.text[:m.start()]) and near is not None and \
                        _cue_near(self.text, m.start(), m.end(), cues or [], before=25, after=0)):
                    hits.append((m.start(), m.end()))
        if sex:
            hits.extend(self._honorific_hits(option))
        signed = re.fullmatch(r"([A-Z]{1,2})([+-])", option.strip())
        if signed:  # 'B+' is written 'B+ve', 'B positive', 'O Rh positive'; 'A-' 'A neg'
            # a bare sign sits on its letter ('B-'); spaced, only with 've'/'neg'/'pos' ('Plan B - ...' is no B-)
            sign = re.escape(signed.group(2))
            word = r"pos(?:itive)?" if signed.group(2) == "+" else r"neg(?:ative)?"
            said = rf"{sign}(?!\s?[A-Za-z0-9])|\s?{sign}\s?ve|\s?(?:(?i:rh)\s?)?(?i:{word})"
            rx = rf"(?<![A-Za-z0-9]){signed.group(1)}(?:{said})(?![A-Za-z0-9+-])"
            hits.extend((m.start(), m.end()) for m in re.finditer(rx, self.text))
        for ph in phrases:
            if not ph.strip():
                continue
            tail = r"[a-z]*" if ph.endswith("*") else r"(?:s|es|ed|ing)?(?![a-z])"  # 'lock*': a stem
            for m in re.finditer(r"(?<![a-z])" + re.escape(ph.strip().rstrip("*")) + tail, low):
                if re.match(r"\s*(?:number|no\b|:\s*\+?\d|\+?\d{5})", low[m.end():]):
                    continue  # "phone number: ..." is contact data, not the product
                hits.append((m.start(), m.end()))
        pieces = [w for w in re.split(r"[_\s-]+", option.lower()) if w]
        number = [w for w in pieces if w.isdigit()]
        if len(pieces) == 2 and len(number) == 1:  # 'talk_30': '30-minute talk', 'a talk of 30 minutes'
            num, word = number[0], next(w for w in pieces if not w.isdigit())
            rx = rf"(?<![\w.]){num}(?![\d.])[^.;,()]{{0,20}}?(?<![a-z]){re.escape(word)}|" \
                 rf"(?<![a-z]){re.escape(word)}[^.;,()]{{0,20}}?(?<![\w.]){num}(?![\d.])"
            hits.extend((m.start(), m.end()) for m in re.finditer(rx, low))
        words = [w for w in re.split(r"[_\s-]+", option.lower()) if len(w) >= 4]
        if len(words) >= 2:  # multi-word option: every word's stem within a short window
            stems = [w[:5] if len(w) > 5 else w[:3] for w in words]
            for m in re.finditer(r"\b" + re.escape(stems[0]), low):
                win = low[max(0, m.start() - 30): m.start() + 40]
                if all(re.search(r"\b" + re.escape(s), win) for s in stems):
                    hits.append((m.start(), m.start() + len(stems[0])))
        return sorted(set(hits))

    def _abbreviation_hits(self, option: str) -> list[tuple[int, int]]:
        """Where an option that is a day's or month's short form ('tue', 'sept') is said by its full
        name ('on Tuesdays', 'in September'); no other short option is read from a word it starts
        ('card' is not in 'Cardiff', 'male' not in 'Maleeha')."""
        names = [n for n in CALENDAR_NAMES if len(option) >= 3 and n.startswith(option) and n != option]
        if not names:
            return []
        # a month only with its capital ('we march', 'an august body' say no month); a day in any case
        said = [n if n.endswith("day") else rf"(?-i:{n.capitalize()})" for n in names]
        rx = re.compile(rf"(?<![\w-])(?:{'|'.join(said)})s?(?![\w-])", re.I)
        return [(m.start(), m.end()) for m in rx.finditer(self.text)]

    def _honorific_hits(self, option: str) -> list[tuple[int, int]]:
        """'Mr.'/'Mrs' right before the name this form was filled with say its person's sex; before
        anyone else's name ('I rent from Mr. Sharma') they say nothing about the form's person."""
        key = {"m": "male", "f": "female"}.get(option.lower(), option.lower())
        words = SEX_HONORIFICS.get(key, [])
        props = self.schema.get("properties", {})
        out = []
        for n, value in self.answers.items():
            span = self.evidence.get(n)
            if not words or not isinstance(value, str) or not span or \
                    field_kind(n, props.get(n, {})) != "person_name":
                continue
            m = re.search(rf"\b((?i:{'|'.join(words)})\.?)\s+$", self.text[max(0, span[0] - 12):span[0]])
            if m:
                out.append((max(0, span[0] - 12) + m.start(1), max(0, span[0] - 12) + m.end(1)))
        # a text that opens with a titled name, or gives one under this form's name label, is about that
        # person ('Mr. Kwame Mensah, 1979-...', 'Name: Mrs Ada Obi'); 'Landlord: Mr. Das' is not
        labels = {"name"} | {w for n, sp in props.items() if isinstance(sp, dict) and
                             self._field_kind(n, sp) == "person_name" for w in self._label_words(n, sp)}
        lead = rf"(?:^|\b(?i:{'|'.join(sorted(map(re.escape, labels)))})\s*:)\s*"
        for m in re.finditer(lead + rf"((?i:{'|'.join(words)})\.?)\s+[A-Z]", self.text) if words else []:
            out.append((m.start(1), m.end(1)))
        return out

    def _synonym_spans(self, option: str) -> set[tuple[int, int]]:
        """Where only a synonym of the option (not the option's own words) occurs."""
        low = self.text.lower()
        out: set[tuple[int, int]] = set()
        for syn in SYNONYMS.get(option.lower(), []) if option.lower() not in CUE_ONLY_SYNONYMS else []:
            ph = syn.strip().lower()
            if ph and ph not in option.lower().replace("_", " "):
                out.update((m.start(), m.end()) for m in
                           re.finditer(r"(?<![a-z])" + re.escape(ph) + r"(?:s|es|ed|ing)?(?![a-z])", low))
        return out

    def _negated(self, start: int) -> bool:
        clause = re.split(r"[.;!?]|,\s*(?:but|and)\b", self.text[max(0, start - 30):start])[-1]
        return bool(re.search(r"\b(no|not|without|never)\b\s*(?:\w+\s*){0,2}$", clause, re.I))

    def _distinctive_words(self, options: list[str], field_words: set[str]) -> dict[str, set[str]]:
        """The first word of a multi-word option when no other option shares it and it is not the
        field's own word ('brake' in brake_repair next to ac_repair, 'tyre' in tyre_change): naming
        it names the option ('the brakes squeal'). English compounds put the thing first; the
        later word ('repair', 'replacement') is what several options have in common."""
        words = {o: [w for w in re.split(r"[_\s-]+", o.lower()) if w] for o in options}
        count: dict[str, int] = {}
        for ws in words.values():
            for w in set(ws):
                count[w] = count.get(w, 0) + 1
        out: dict[str, set[str]] = {}
        own = {_stem(f) for f in field_words}
        for o, ws in words.items():
            if len(ws) < 2:
                continue
            w = ws[0]
            if count[w] == 1 and (len(w) >= 4 or len(w) == 2) and w not in STOP and _stem(w) not in own:
                out[o] = {_stem(w) + "*" if len(w) > 4 else w}
        return {o: v for o, v in out.items() if v}

    def _fill_enum(self, name: str, spec: dict, required: bool) -> None:
        """An option named in the text (or its synonyms, initials, the option's own title) wins;
        several named -> the model ranks them; none named -> omitted unless required, then the
        model's calibrated choice among all options."""
        said = enum_options(spec)
        options = list(said)
        if not options:
            return
        fwords = set(_words(name)) | set(_words(spec.get("title", "")))
        cues = _cues(name, spec)
        self._distinctive = self._distinctive_words(options, fwords)
        hits = {o: [h for h in self._lexical_hits(o, fwords, cues) if not self._negated(h[0])] for o in options}
        self._distinctive = {}
        self._unknown_only_in_own_clause(hits, cues)
        for o in options:  # an option's title ('Motor vehicle' for const 'motor') is one of its names,
            # and so is each of its alternatives ('Bungalow / cottage': 'cottage')
            if said[o].lower() != o.lower().replace("_", " ") and not hits[o]:
                for alt in [said[o], *(a for a in re.split(r"\s+/\s+", said[o]) if a != said[o])]:
                    hits[o] = [h for h in self._lexical_hits(alt, fwords, cues) if not self._negated(h[0])]
                    if hits[o]:
                        break
            if not hits[o]:
                hits[o] = [h for h in self._abbreviation_hits(o) if not self._negated(h[0])]
        if not any(hits.values()):  # the schema's own words for each option ('urgent: within a few days')
            for o, words in option_descriptions(spec).items():
                if o in hits:
                    hits[o] = [h for h in self._described_hits(words) if not self._negated(h[0])]
        implied = self._implied_option(options, hits)
        if implied is not None:
            self._set(name, implied[0], implied[1], "implied")
            return
        labelled = self._labelled(name, spec)
        for m in labelled:  # 'Tier: basic', 'Grade: C', 'Shirt: XL': the option named after the label
            named = {o: h for o, h in hits.items() if any(m.start <= s < m.end + 1 for s, _ in h)}
            if len(named) == 1:
                hits = named
                break
        if fwords & {"sex", "gender"} and sum(bool(h) for h in hits.values()) > 1:
            # '(F, 62) ... her son': the bracket or '62F' token says it; a relative's noun does not
            short = {o: [x for x in h if x[1] - x[0] == 1] for o, h in hits.items()}
            if sum(bool(h) for h in short.values()) == 1:
                hits = {o: h for o, h in short.items() if h}
        own = {o: [x for x in h if x not in self._synonym_spans(o)] for o, h in hits.items()}
        if any(own.values()) and any(h and not own[o] for o, h in hits.items()):
            # 'snatched' names chain_snatching by its own word and theft only through a synonym
            hits = {o: h for o, h in own.items() if h}
        direct = {o: h for o, h in hits.items() if h and o.lower() == self.text[h[0][0]:h[0][1]].lower()}
        pool = direct or {o: h for o, h in hits.items() if h}
        if len(pool) == 1:
            opt, spans = next(iter(pool.items()))
            self._set(name, opt, spans[0], "lexical")
            return
        scale = self._severity_scale_choice(name, options) if not pool else None
        if scale is not None:
            self._set(name, scale[0], scale[1], "severity-scale")
            return
        candidates = list(pool) if pool else options
        if not pool and not required and not self.guess_optional_enums:
            return  # nothing in the text points at any option: omit rather than guess
        if self.engine is None:
            return  # no model to rank them: the first option would be a favourite, not an answer
        if not self._budget_allows("rank", [name], required):
            return  # no time left to rank them: omitted (and listed), not the first candidate
        t0 = self.clock()
        scores = self._llm_option_scores(name, spec, candidates, said)
        self._timed("rank", t0)
        # A catch-all option ("other") soaks up probability for any text; it has to win clearly.
        scores = [s - CATCH_ALL_PENALTY if c.lower() in CATCH_ALL else s
                  for c, s in zip(candidates, scores, strict=True)]
        best = max(range(len(candidates)), key=lambda i: scores[i])
        opt = candidates[best]
        span = pool[opt][0] if opt in pool else None
        self._set(name, opt, span, "llm-likelihood" if not pool else "lexical+llm")

    def _unknown_only_in_own_clause(self, hits: dict[str, list[tuple[int, int]]], cues: list[str]) -> None:
        """An 'unknown' option said as 'not sure' / 'no idea' counts only when no other option is named
        and the phrase is in the field's own sentence ('severity: not sure'; 'Fire in the kitchen. I'm not
        sure how bad.' leaves severity out)."""
        for o in [o for o in hits if o.lower().replace("_", " ") in UNKNOWN_OPTIONS or o.lower() in UNKNOWN_OPTIONS]:
            said = [h for h in hits[o] if self.text[h[0]:h[1]].lower() in UNKNOWN_SAID - {o.lower()}]
            if not said:
                continue
            if any(h for other, h in hits.items() if other != o):
                hits[o] = [h for h in hits[o] if h not in said]
                continue
            keep = []
            for h in said:
                left = max(self.text.rfind(c, 0, h[0]) for c in ".;!?\n")
                right = min([i for i in (self.text.find(c, h[1]) for c in ".;!?\n") if i >= 0] or [len(self.text)])
                clause = self.text[left + 1:right].lower()
                if any(re.search(r"(?<![a-z])" + re.escape(c.lower()) + r"(?![a-z])", clause) for c in cues):
                    keep.append(h)
            hits[o] = [h for h in hits[o] if h not in said or h in keep]

    def _described_hits(self, words: list[str]) -> list[tuple[int, int]]:
        """Clauses that use two of an option's description words (by stem), or one long one ('danger')."""
        stems = {_stem(w)[:6]: len(w) for w in words if len(w) >= 4 and w not in STOP}
        out = []
        for clause in re.finditer(r"[^.!?;,]+", self.text):
            low = clause.group(0).lower()
            found = [st for st in stems if re.search(rf"(?<![a-z]){re.escape(st)}", low)]
            if len(found) >= 2 or any(stems[st] >= 6 for st in found):
                out.append((clause.start(), clause.end()))
        return out

    def _answer_spans(self) -> list[tuple[int, int]]:
        """Evidence of the numbers answered so far: the amount or quantity an option may qualify."""
        return [(e[0], e[1]) for n, e in self.evidence.items()
                if e and isinstance(self.answers.get(n), (int, float)) and not isinstance(self.answers.get(n), bool)]

    def _implied_option(self, options: list[str], hits: dict[str, list[tuple[int, int]]]
                        ) -> tuple[str, tuple[int, int]] | None:
        """An option the text implies without naming it: the currency of an amount (options that are
        ISO 4217 codes: '₹45,000' -> INR), the unit of a quantity (options that are units: '101.2 F'
        -> F), the period of a rate (options that name periods: '€10k per month' -> per_month).
        The amount/quantity an answered numeric field took comes first, then the first in the text."""
        answered = self._answer_spans()

        def pick(found: list[tuple[str, int, int]]) -> tuple[str, tuple[int, int]] | None:
            found = [f for f in found if f[0] in options]
            if not found:
                return None
            own = [f for f in found if any(s <= f[1] < e or f[1] <= s < f[2] for s, e in answered)]
            best = (own or found)[0]
            return best[0], (best[1], best[2])

        codes = [o for o in options if o.upper() in ex.CURRENCY_CODES.split("|")]
        if len(codes) >= 2:
            by_code = {o.upper(): o for o in codes}
            found = []
            for m in ex.amounts(self.text):
                cur = ex.currency_of(self.text, m)
                if cur in by_code:
                    found.append((by_code[cur], m.start, m.end))
            return pick(found)
        units = {o: ex.unit_of_option(o) for o in options}
        if sum(u is not None for u in units.values()) >= 2:
            by_unit = {u: o for o, u in units.items() if u}
            return pick([(by_unit[q.unit], q.start, q.end) for q in ex.quantities(self.text) if q.unit in by_unit])
        per = {o: k for o in options for k, (_, names) in ex.PERIODS.items() if set(_words(o)) & names}
        if len(set(per.values())) >= 2 and not any(hits.values()):
            by_period = {k: o for o, k in per.items()}
            found = [(by_period[m.value], m.start, m.end) for m in ex.periods(self.text) if m.value in by_period]
            near = [f for f in found if any(0 <= f[1] - e <= 30 for _, e in answered)]
            return pick(near or found)
        return None

    def _severity_scale_choice(self, name: str, options: list[str]) -> tuple[str, tuple[int, int]] | None:
        """P1..Pn / Sev1..n scales (1 = most severe): map the text's severity cues onto the scale."""
        if not set(_words(name)) & {"severity", "priority", "urgency", "impact", "sev", "prio"}:
            return None
        found = [re.fullmatch(r"(?:p|sev|severity|priority|prio)\s*[-_ ]?(\d)", o.strip().lower()) for o in options]
        nums = [m for m in found if m is not None]
        if len(nums) < len(options) or len(options) < 2:
            return None
        ranked = sorted(zip((int(m.group(1)) for m in nums), options, strict=True))
        for level, key in enumerate(("critical", "high", "medium", "low")):
            hits = [h for h in self._lexical_hits(key) if not self._negated(h[0])]
            if hits:
                idx = round(level / 3 * (len(ranked) - 1))
                return ranked[idx][1], hits[0]
        return None

    def _label(self, name: str, spec: dict) -> str:
        return (spec.get("title") or " ".join(_words(name))).rstrip("?").lower()

    def _llm_option_scores(self, name: str, spec: dict, options: list[str],
                           said: dict[str, str] | None = None) -> list[float]:
        """Each candidate option's log-likelihood as the answer, calibrated (minus its likelihood for
        an empty text: the model's prior for short or familiar options) and averaged over the field's
        options listed in two orders (a 270M model copies the first option it was shown).

        The question always lists all the field's options, whichever few are candidates: so its
        calibration depends on the field alone and is computed once per process. (Listing only the
        candidates made a new question per text, whose calibration prompt evicted the text from the
        KV cache and cost a second prefill of it, about a second on 2 shared cores.)"""
        said = said or {o: o.replace("_", " ") for o in options}
        everything = list(said)
        label = self._label(name, spec)
        all_tokens = distinct_prefixes([self._model.tokenize(" " + said[o] + "\n") for o in everything])
        pick = [everything.index(o) for o in options]
        opt_tokens = [all_tokens[i] for i in pick]
        questions = [f"Question: Which {label} fits the text best? Options: "
                     f"{', '.join(said[o] for o in order)}.\nAnswer:" for order in (everything, everything[::-1])]
        bases = []
        try:
            priors = _CALIBRATION.setdefault(self.engine, {})
        except TypeError:  # an engine that takes no weak reference: its priors are not kept
            priors = {}
        for q in questions if self.calibrate else []:  # both priors before the text: one prefill of it
            key = (q, tuple(everything))
            if key not in priors:
                priors[key] = self._score(f"Text: (empty)\n{q}", all_tokens)
            bases.append(priors[key])
        total = [0.0] * len(options)
        for n, q in enumerate(questions):
            scores = self._score(f"Text: {self.llm_text}\n{q}", opt_tokens)
            if self.calibrate:
                scores = [s - bases[n][i] for s, i in zip(scores, pick, strict=True)]
            total = [t + sc / 2 for t, sc in zip(total, scores, strict=True)]
        return total

    def _score(self, body: str, opt_tokens: list[list[int]]) -> list[float]:
        eng = self._model
        prefix = [eng.llm.token_bos(), *eng.tokenize(FEW_SHOT + body)]
        before = eng.llm.n_tokens
        scores = eng.score_options(prefix, opt_tokens)
        self.stats.llm_calls += 1
        self.stats.prompt_tokens += len(prefix)
        self.stats.eval_tokens += max(0, len(prefix) - min(before, len(prefix))) + sum(map(len, opt_tokens))
        self._prefill_event(len(prefix))
        return scores

    def _fill_enum_array(self, name: str, spec: dict, required: bool) -> None:
        options = [o for o in spec["items"]["enum"] if isinstance(o, str)]
        chosen, spans = [], []
        for opt in options:
            hits = [h for h in self._lexical_hits(opt) or self._abbreviation_hits(opt) if not self._negated(h[0])]
            if hits:
                chosen.append(opt)
                spans.append(hits[0])
        if chosen:
            max_items = spec.get("maxItems", len(chosen))
            chosen = chosen[:max_items]
            span = (min(s for s, _ in spans), max(e for _, e in spans))
            self._set(name, chosen, span, "lexical")

    # -- booleans ----------------------------------------------------------------------
    def _fill_boolean(self, name: str, spec: dict, required: bool) -> None:
        """A labelled yes/no ('Photos: yes'), else the clause that mentions the field's head word
        (the first content word of its name: 'breakfast', 'first', 'auto') and the most of its
        other cue words; polarity from negation in that clause. Description words only score."""
        for m in self._labelled(name, spec):
            word = m.value.split()[0].lower().strip(".!") if m.value.split() else ""
            if word in {"yes", "y", "true", "ja", "oui", "si", "sí"} | {"no", "n", "false", "none", "nil"}:
                self._set(name, word in {"yes", "y", "true", "ja", "oui", "si", "sí"}, (m.start, m.end), "label")
                return
        # the words that say what the yes/no is about: not 'has', 'is', nor a two-letter 'on' ('on_meds')
        content = [w for w in _words(name) if w not in STOP and w not in BOOL_STOP and len(w) > 2] or \
            [w for w in _words(name) if w not in STOP and w not in BOOL_STOP] or _words(name)
        if not content:
            return
        head = [c for c in _cues(content[0], {}) if len(c) > 2] + [_stem(content[0])]
        cues = [c for c in _cues(name, {"title": spec.get("title", "")}) if len(c) > 3] + \
            [_stem(w) for w in content]
        low = self.text.lower()
        best = None
        for sent in re.finditer(SENTENCE, self.text):
            s_low = low[sent.start():sent.end()]
            if not any(re.search(r"(?<![a-z])" + _loose(c), s_low) for c in head):
                continue
            score = sum(1 for c in set(cues) if re.search(r"(?<![a-z])" + re.escape(c.lower().strip()), s_low))
            if best is None or score > best[0]:
                best = (score, sent)
        if best is None:  # the head word is not used: a longer word of the title ('enter', 'access')
            # words other fields' names or titles also use say nothing about this one ('visitor' of
            # 'First-time visitor' and 'Disabled visitor': 'a regular visitor' is neither)
            props = self.schema.get("properties", {})
            fields = {w for n in props for w in _words(n)} | \
                {w for n, s in props.items() if n != name and isinstance(s, dict) for w in _words(s.get("title", ""))}
            title_words = [_stem(w) for w in _words(spec.get("title", ""))
                           if len(w) >= 5 and w not in STOP and w not in fields]
            for sent in re.finditer(SENTENCE, self.text):
                s_low = low[sent.start():sent.end()]
                if any(re.search(r"(?<![a-z])" + re.escape(w), s_low) for w in title_words):
                    best = (0, sent)
                    break
        if best is None:  # nor those: the clause with the most of the field's other words
            clause = self._boolean_clause(name, spec)
            if clause is not None:
                self._set(name, clause[0], clause[1], "clause+polarity")
            return
        if best is not None:
            sent = best[1]
            s_low = low[sent.start():sent.end()]
            # negation counts in the clauses that hold the field's words: 'I'm not able to bring it in,
            # please pick it up' asks for a pickup; 'reported it to the airline, not the police' did not
            words = [c for c in [*head, *cues] if len(c.strip()) > 2]
            scope = [part for part in re.split(r",|;|\bbut\b", s_low)
                     if any(re.search(r"(?<![a-z])" + _loose(c), part) for c in words)] or [s_low]
            value = not any(NEGATION.search(part) for part in scope)
            if re.search(r"\b(expired|ended|lapsed|overdue|out of warranty)\b", s_low):
                value = False
            self._set(name, value, (sent.start(), sent.end()), "cue+polarity")

    def _boolean_clause(self, name: str, spec: dict) -> tuple[bool, tuple[int, int]] | None:
        """The clause that says most about a yes/no field, by the stems of its name's words (weight 2)
        and of its title's and description's (weight 1), other fields' words left out; polarity from
        a negation in that clause ('Not open to relocation', 'Nothing to declare') or an 'un-' on
        the field's own word ('unknown persons' for accused_known)."""
        fields = {w for n in self.schema.get("properties", {}) if n != name for w in _words(n)}
        weights: dict[str, int] = {}  # regex of a word's forms -> weight
        lengths: dict[str, int] = {}  # regex -> how long (how telling) the word is
        for source, weight in ((_words(name), 2), (_words(spec.get("title", "")) +
                                                   _words(spec.get("description", "")), 1)):
            for w in source:
                w = ABBREVIATIONS.get(w, w)
                if len(w) >= 4 and w not in STOP and w not in BOOL_STOP and (weight == 2 or w not in fields):
                    if w in IRREGULAR_VERBS:  # 'worn' is said 'wearing', 'given' 'gave': a whole verb, long
                        forms = IRREGULAR_VERBS[w]
                        key = rf"(?:{'|'.join(forms)})(?![a-z])"
                        weights[key] = max(weights.get(key, 0), weight)
                        lengths[key] = 6
                        continue
                    stem = _stem(w)[:6] if len(_stem(w)) > 6 else _stem(w)
                    weights[re.escape(stem)] = max(weights.get(re.escape(stem), 0), weight)
                    lengths[re.escape(stem)] = len(stem)
        if not weights:
            return None
        best = None
        for clause in re.finditer(r"[^.!?;:,]+", self.text):
            low = clause.group(0).lower()
            score, flipped, distinct, longest = 0, False, 0, 0
            for stem, weight in weights.items():
                hit = re.search(rf"(?<![a-z])(un|non-?|dis)?{stem}", low)
                if hit:
                    score += weight
                    distinct += 1
                    longest = max(longest, lengths[stem] if weight == 2 else 0)
                    flipped = flipped or bool(hit.group(1))
            # one short word ('race', 'need') says too little; two words, or one long own word, say enough
            if (distinct >= 2 or longest >= 6) and score >= 2 and (best is None or score > best[0]):
                best = (score, clause, flipped)
        if best is None:
            return None
        _, clause, flipped = best
        negated = bool(NEGATION.search(clause.group(0))) or \
            bool(re.search(r"\b(?:prefer not|rather not|not open|opt(?:ing)? out)\b", clause.group(0), re.I))
        return (negated == flipped), (clause.start(), clause.end())

    # -- strings through the LLM -------------------------------------------------------
    def _prefill_event(self, prompt_tokens: int) -> None:
        """First model use of this fill: report time to first token/score once (progress + stats)."""
        first = self.stats.ttft_ms is None
        ttft = self.stats.first_token()
        if first and self.on_progress:
            self.on_progress({"phase": "prefill_done", "prompt_tokens": prompt_tokens,
                              "ttft_ms": round(ttft, 1)})

    def _inside_email(self, start: int, end: int) -> bool:
        return any(m.start <= start and end <= m.end for m in ex.emails(self.text))

    def _expand_phrase(self, start: int, end: int) -> tuple[int, int]:
        """Grow a partial place answer to the whole name: 'petrol station' -> 'Riverside petrol station'."""
        while True:
            m = re.search(r"(?:^|\s)((?:[A-Z][\w'’-]*|\d+[A-Za-z]?))\s+$", self.text[:start])
            if not m or m.start(1) == 0 or re.search(r"[.!?]\s*$", self.text[:m.start(1)]):
                break
            start = m.start(1)
        m = re.search(r"\b(?:the|a|an)\s+((?:[a-z][\w'’-]*\s+){1,2})$", self.text[:start])
        preps = {"outside", "at", "in", "on", "near", "by", "of", "from", "to", "inside", "behind", "into",
                 "with", "and", "or", "was", "were", "is"}
        if m and self.text[start:start + 1].islower() and not preps & set(m.group(1).split()):
            start = m.start(1)  # 'market' in "at the farmers market" -> 'farmers market'
        while True:
            m = re.match(r"\s+([A-Z][\w'’-]*)", self.text[end:])
            if not m:
                break
            end += m.end(1)
        return start, end

    def _fill_title(self, name: str, spec: dict, required: bool) -> None:
        """The title of a work ('projectTitle', 'talk-title'): as a string, but before places and
        names, which its words often hold ('Clean Water for Tamale')."""
        self._fill_string(name, spec, required)

    def _unquote(self, start: int, end: int) -> tuple[int, int]:
        """A value wholly inside quotes loses them: 'talk: "Zero-downtime migrations"'."""
        seg = self.text[start:end]
        if len(seg) > 2 and seg[0] in QUOTES and seg[-1] == QUOTES[seg[0]]:
            return start + 1, end - 1
        return start, end

    def _fill_quoted(self, name: str, spec: dict) -> bool:
        """A title as people write one: in quotes ('a talk called "What we learned"', "for 'Music in
        the Park'"), two words or more, the one nearest the field's cue words (first of equals)."""
        found = []
        for m in QUOTED_RE.finditer(self.text):
            start, end = m.start(2), m.end(2)
            value = self.text[start:end]
            if len(value.split()) < 2 or len(value) > spec.get("maxLength", 10**6) or self._is_used(start, end):
                continue
            near = _cue_near(self.text, m.start(), m.end(), _cues(name, spec))
            called = re.search(r"\b(?i:called|titled|entitled|named|title[sd]?|headline|present(?:s|ing|ed)?)"
                               r"\b[:,]?\s*$", self.text[max(0, m.start() - 30):m.start()])
            label = re.search(r"\b(?!(?:said|says|asked|told|wrote|shouted|replied)\b)[A-Za-z]+:\s*$",
                              self.text[max(0, m.start() - 30):m.start()])
            if not (near or called or label):
                continue  # quoted speech ('my manager said "take the day off"') is no title
            found.append((near, -start, start, end))
        if not found:
            return False
        _, _, start, end = max(found)
        return self._set(name, self.text[start:end], (start, end), "quoted")

    def _fill_string(self, name: str, spec: dict, required: bool, question: str | None = None,
                     kind_hint: str = "string") -> None:
        if kind_hint == "string":
            for m in self._labelled(name, spec):  # 'Establishment: Hotel Annapurna (restaurant)'
                start, end = self._unquote(*self._clean_value(name, spec, m.start, m.end))
                words = self.text[start:end].split()
                if spec.get("maxLength", 10**6) >= 100 and field_kind(name, spec) == "string" and \
                        not all(w[:1].isupper() or not w[:1].isalpha() for w in words):
                    end = max(end, self._sentence_end(m.end))  # a clause runs to its sentence's end, a name not
                if end > start and self._set(name, self.text[start:end][: spec.get("maxLength", 10**6)],
                                             (start, end), "label"):
                    return
            if field_kind(name, spec) == "title" and self._fill_quoted(name, spec):
                return
            if field_kind(name, spec) == "string" and self._fill_named_by_noun(name, spec):
                return
        if self.engine is None or not self._budget_allows("extract", [name], required):
            return
        q = question or f"What is the {self._label(name, spec)}?"
        prompt = f"{FEW_SHOT}Text: {self.llm_text}\nQuestion: {q}\nAnswer:"
        t0 = time.perf_counter()
        c0 = self.clock()
        out = self.engine.complete(prompt, max_tokens=16, stop=["\n"])
        self._timed("extract", c0)
        self.stats.llm_calls += 1
        self.stats.prompt_tokens += out.prompt_tokens
        self.stats.gen_tokens += out.gen_tokens
        self.stats.eval_tokens += out.prompt_tokens - out.cached_tokens + out.gen_tokens
        self.stats.gen_ms += (time.perf_counter() - t0) * 1000 - out.ttft_ms
        self._prefill_event(out.prompt_tokens)
        if self.on_progress:
            self.on_progress({"phase": "generating", "tokens": self.stats.gen_tokens})
        answer = out.text.strip().strip(".\"'")
        if not answer or answer.lower() in {"none", "unknown", "n/a", "not mentioned"}:
            return
        span = align_span(self.text, answer)
        if span is None or self._is_used(*span) or self._inside_email(*span):
            return
        start, end = self._expand_phrase(*span) if kind_hint == "location" else span
        if kind_hint == "person_name":
            hon = HONORIFICS.match(self.text[start:end])  # 'Mrs Sunita Rao' -> 'Sunita Rao'
            start += hon.end() if hon and hon.end() < end - start else 0
            if not self.text[start:end][:1].isupper():
                return
        value = self.text[start:end][: spec.get("maxLength", 10**6)]
        if len(value) < spec.get("minLength", 0):
            return
        self._set(name, value, (start, start + len(value)), "llm-extractive")

    def _fill_named_by_noun(self, name: str, spec: dict) -> bool:
        """A field that is one noun ('court', 'hospital') takes the proper name that ends in that noun,
        capitalised as names are ('Riverside Lawn Tennis Club', "St. Anne's Hospital"): what the text
        calls a thing of that kind by its name."""
        words = [w for w in _words(name) if w not in STOP]
        if len(words) != 1 or len(words[0]) < 4 or not words[0].isalpha():
            return False
        noun = words[0]
        # a dot only after an initial or a two-letter short form ('St. Anne Hospital'): no name runs
        # across a sentence's end ('... on Monday. Next Court date')
        token = rf"[{_UP}][\w'’&-]*(?<![\w'’&-]{{3}})\.|[{_UP}][\w'’&-]*|of|de|the"
        rx = (rf"(?:(?<=\s)|(?<=^)|(?<=[(,]))((?:(?:{token})\s+){{1,4}}"
              rf"(?i:{noun[0]})(?-i:{noun[1:]})s?)\b")
        for m in re.finditer(rx, self.text):
            start, end = m.start(1), m.end(1)
            first = self.text[start:end].split()[0]
            if first in {"of", "de", "the"} or first in NOT_NAME or first in SALUTATIONS or self._is_used(start, end):
                continue
            if len(self.text[start:end].split()) == 2 and re.search(r"(?:^|[.!?:\n])\s*$", self.text[:start][-3:]):
                continue  # a capital at a sentence's start proves no name ('Next Court date unknown')
            if self._set(name, self.text[start:end][: spec.get("maxLength", 10**6)], (start, end), "named-noun"):
                return True
        return False

    def _fill_string_array(self, name: str, spec: dict, required: bool) -> None:
        """A list of short strings ('Allergies: penicillin', 'allergic to peanuts and eggs'): the
        phrase right after a word of the field's name (or its stem), split at commas and 'and'/'or';
        nothing when the phrase is negated ('no known allergies')."""
        stems = {_stem(w)[:6] for w in _words(name) + _words(spec.get("title", "")) if len(w) >= 4 and w not in STOP}
        item = spec.get("items", {})
        for stem in sorted(stems, key=len, reverse=True):
            rx = rf"(?<![a-z])(?i:{re.escape(stem)})[a-z]*\s*(?:to|:|-|=|of|are|is|include)?\s+(?P<v>[^.;()\n]+)"
            for m in re.finditer(rx, self.text):
                if self._negated(m.start()) or re.match(r"(?i)(?:none|nil|no\b|nothing|not\b)", m.group("v")):
                    return
                start = m.start("v")
                items = []
                for piece in re.finditer(r"[^,]+", m.group("v")):
                    for part in re.split(r"\s+(?:and|or|&)\s+", piece.group(0)):
                        part = part.strip()
                        if not part:
                            continue
                        if len(part.split()) > 4 or not re.fullmatch(r"[\w' -]+", part):
                            break
                        pos = self.text.find(part, start)
                        items.append((part, pos))
                    else:
                        continue
                    break
                values = [v for v, _ in items if len(v) <= item.get("maxLength", 10**6)][: spec.get("maxItems", 20)]
                if values:
                    span = (items[0][1], items[len(values) - 1][1] + len(values[-1]))
                    if all(accept_answer(self.text, item, v, None) for v in values):
                        self._set(name, values, span, "list")
                        return

    def _fill_unsupported(self, name: str, spec: dict, required: bool) -> None:
        """Nested objects etc.: only filled when required (under the grammar, below)."""

    # -- required + validity -----------------------------------------------------------
    def _fill_required(self, props: dict, required: set[str]) -> None:
        """Required fields no extractor found get one more, evidence-bound try; nothing is defaulted.

        A default (False, the minimum, the first option, today) would be a favourite the text does
        not support (never invent): a required field with no evidence stays out and is reported in
        ``stats.missing_required`` for the person to complete.
        """
        missing = [n for n in props if n in required and n not in self.answers]
        if not missing or self.engine is None:
            return
        for name in list(missing):
            if field_kind(name, props[name]) == "enum":
                self._fill_enum(name, props[name], True)
        # Free strings are not generated under the grammar: what the model writes there is not in
        # the text (never invent), and ~100 tokens of it cost seconds. Booleans neither: a generated
        # yes/no has no evidence. What the grammar writes for the rest passes the same gate.
        still = [n for n in missing if n not in self.answers and props[n].get("type") not in ("string", "boolean")]
        if still:
            self._grammar_fill(props, still)

    def _grammar_fill(self, props: dict, names: list[str]) -> None:
        """Required fields no extractor found: generate them under an explicit grammar."""
        sub = {"type": "object", "properties": {n: _grammar_friendly(props[n]) for n in names},
               "required": names, "additionalProperties": False}
        if not self._budget_allows("grammar", names, True):
            return
        c0 = self.clock()
        grammar = self._model.grammar_from_schema(sub)
        prompt = f"Text: {self.llm_text}\nFill this JSON for the text.\nJSON:"
        out = self._model.complete(prompt, max_tokens=192, grammar=grammar)
        self._timed("grammar", c0)
        self.stats.llm_calls += 1
        self.stats.gen_tokens += out.gen_tokens
        try:
            data = json.loads(out.text)
        except json.JSONDecodeError:
            return
        for n in names:
            if n in data:
                val = data[n]
                span = align_span(self.text, val) if isinstance(val, str) else None
                self._set(n, val, span, "grammar")

    def _repair(self, props: dict, required: set[str]) -> None:
        """Drop fields that fail validation so the draft always validates as a draft.

        A required field the text does not support stays out (never invent): the store accepts a
        draft without its required fields and the person completes it; ``stats`` says which are
        missing (``missing_required``) and whether the draft is complete (``valid``).
        """
        validator = Draft202012Validator(self.schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

        def errors() -> list:
            return [e for e in validator.iter_errors(self.answers) if not (e.validator == "required" and not e.path)]

        for _ in range(len(props) + 1):
            errs = errors()
            if not errs:
                break
            bad = {e.path[0] for e in errs if e.path and e.path[0] in self.answers}
            if not bad:
                break
            for n in bad:
                self._unset(n)
        errs = errors()
        self.stats.missing_required = sorted(n for n in required if n not in self.answers)
        self.stats.valid = not errs and not self.stats.missing_required
        if errs and self.engine is not None:
            raise FillError("could not produce a valid draft: " + "; ".join(e.message for e in errs[:3]))


def distinct_prefixes(options: list[list[int]]) -> list[list[int]]:
    """Each option cut to the shortest prefix length at which all options still differ.

    Scoring a token past the first costs a decode through the model's 262k-word output layer per
    position, while the first token's probability comes free with the prompt's last logits; when
    the options already differ in their first token (' theft' / ' burglary' / ' vehicle') that is
    all that is scored, and the choice is the same one the first token commits the model to.
    """
    longest = max((len(o) for o in options), default=0)
    for k in range(1, longest + 1):
        cut = [tuple(o[:k]) for o in options]
        if len(set(cut)) == len(cut):
            return [list(c) for c in cut]
    return options


def _grammar_friendly(spec: dict) -> dict:
    """llama.cpp's schema converter knows ``format: date`` but not ``email``: give it a pattern."""
    if spec.get("format") == "email":
        spec = {k: v for k, v in spec.items() if k != "format"}
        spec["pattern"] = "^[a-z]{1,12}@example[.]com$"
    return spec


class FillError(RuntimeError):
    """The draft could not be made to validate (e.g. a required field of an unsupported type)."""


def accept_answer(text: str, spec: dict, value: object, span: tuple[int, int] | list[int] | None, *,
                  today: dt.date | None = None) -> bool:
    """Never invent: whether a proposed answer may go into the draft.

    A string must be one of the field's enum options, or a normalised value (a date, a time) of
    its own evidence span, or occur in the text itself as whole words (case and spacing aside).
    A number or yes/no needs an evidence span, or (a number) to be written in the text in digits.
    Lists and objects are checked item by item, each string inside the same way. Anything else —
    a URL the model made up, a name or a count from its prior — is refused, whoever proposed it.
    """
    in_text = span is not None and 0 <= span[0] < span[1] <= len(text)
    if span is not None and in_text and not _on_word_bounds(text, span[0], span[1]):
        return False  # evidence cut out of a word ('one' of 'Someone', '125' of '0.125') is none
    evidence = text[span[0]:span[1]] if span is not None and in_text else ""
    if isinstance(value, bool):
        return in_text
    if isinstance(value, (int, float)):
        return (in_text and _reads_as_number(evidence, value)) or _number_in_text(text, value)
    if isinstance(value, list):
        items = spec["items"] if isinstance(spec.get("items"), dict) else {}
        return (bool(value) or in_text) and all(accept_answer(text, items, v, None, today=today) for v in value)
    if isinstance(value, dict):
        props = spec["properties"] if isinstance(spec.get("properties"), dict) else {}
        return (bool(value) or in_text) and \
            all(accept_answer(text, props.get(k, {}), v, None, today=today) for k, v in value.items())
    if not isinstance(value, str):
        return False  # null: no answer is no answer
    if value in (spec.get("enum") or []) or value in enum_options(spec):
        return True
    if spec.get("format") in ("date", "date-time"):
        return in_text and _date_reading_of(evidence, value, today)
    needle = re.sub(r"\s+", " ", value).strip().casefold()
    if needle and in_text and re.sub(r"\s+", " ", evidence).strip().casefold() == needle:
        return True  # its own evidence, exactly (a value cut to maxLength included)
    if needle and _whole_words_in(needle, re.sub(r"\s+", " ", text).casefold()):
        return True
    # a normalised reading of its own evidence: '21:30' of '9:30 pm', '9811023456' of '98110 23456'
    return in_text and value in ex.normalised_readings(evidence)


def _whole_words(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """A span widened to the whole words it touches ('lock' in 'locked' -> 'locked')."""
    start, end = span
    while 0 < start < len(text) and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while 0 < end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    return start, end


def _on_word_bounds(text: str, start: int, end: int) -> bool:
    """Whether a span starts and ends where a word or number does: not between two letters or two
    digits, nor inside a decimal or grouped number ('0.125'). A letter next to a digit is a
    boundary ('40M', '4h15')."""
    def joined(i: int) -> bool:  # text[i - 1] and text[i] belong to one word or number
        if i <= 0 or i >= len(text):
            return False
        a, b = text[i - 1], text[i]
        if (a.isalpha() and b.isalpha()) or (a.isdigit() and b.isdigit()):
            return True
        digits_around = (i >= 2 and text[i - 2].isdigit() and b.isdigit() and a in ".,") or \
            (i + 1 < len(text) and a.isdigit() and b in ".," and text[i + 1].isdigit())
        return digits_around

    return not joined(start) and not joined(end)


#: What may stand around a number in its evidence and not change what it says: currency signs and codes.
_CURRENCY_AROUND = re.compile(rf"{ex._CUR_BEFORE}|{ex._CUR_AFTER}|\s", re.I)


def _reads_as_number(evidence: str, value: float) -> bool:
    """Whether evidence that is just a number (currency aside) says ``value`` ('$0.125' is not 125):
    its plain reading (grouping commas dropped, dot decimal) or its dot-grouped one ('70.000').
    Evidence with words in it ('no kids', 'ground floor', '4h15', '2 lakh') is a derivation the
    extractor made from words, checked by whoever made it, and passes."""
    bare = _CURRENCY_AROUND.sub("", evidence)
    if not re.fullmatch(r"\d[\d.,]*", bare):
        return True
    readings = set()
    if re.fullmatch(r"\d+(?:,\d+)*(?:\.\d+)?", bare):
        readings.add(float(bare.replace(",", "")))
    if re.fullmatch(ex._DOT_THOUSANDS, bare):
        readings.add(float(bare.replace(".", "").replace(",", ".")))
    return float(value) in readings


def _whole_words_in(needle: str, haystack: str) -> bool:
    """``needle`` occurs in ``haystack`` not as part of a longer word ('ann' is not in 'annual')."""
    lead = r"(?<!\w)" if re.match(r"\w", needle) else ""
    tail = r"(?!\w)" if re.search(r"\w$", needle) else ""
    return re.search(lead + re.escape(needle) + tail, haystack) is not None


def _number_in_text(text: str, value: float) -> bool:
    """A number no extractor cites is only believed when the text writes it in digits
    ('4242', '1,25,000', '12.5'), as a whole number token, not inside another."""
    for m in re.finditer(r"(?<![\w./:-])\d[\d,]*(?:\.\d+)?(?!\d|[-/.:]\d)", text):
        try:
            if float(m.group(0).replace(",", "")) == float(value):
                return True
        except ValueError:
            continue
    return False


def _date_reading_of(span_text: str, value: str, today: dt.date | None) -> bool:
    """Whether ``value`` (a date, or a date-time) is how its evidence span reads as a date: the
    date part one of the span's readings (either day order), a time part one of its times."""
    readings = {m.value for dayfirst in (False, True) for m in ex.dates(span_text, today, dayfirst)}
    if value in readings:
        return True
    if len(value) <= 10 or value[:10] not in readings:
        return False
    clock = re.match(r"T(\d{2}:\d{2})", value[10:])
    return clock is not None and (clock.group(1) == "00:00" or clock.group(1) in {m.value for m in ex.times(span_text)})


def align_span(text: str, answer: str) -> tuple[int, int] | None:
    """Where ``answer`` occurs in ``text`` (case-insensitive), else the best long word-run match."""
    answer = answer.strip()
    if not answer:
        return None
    i = text.lower().find(answer.lower())
    if i >= 0:
        return i, i + len(answer)
    words = answer.split()
    for size in range(len(words) - 1, max(1, len(words) // 2) - 1, -1):
        for j in range(0, len(words) - size + 1):
            chunk = " ".join(words[j:j + size])
            if len(chunk) < 4:
                continue
            i = text.lower().find(chunk.lower())
            if i >= 0:
                return i, i + len(chunk)
    return None


def warm_up(engine: LlamaEngine) -> float:
    """Evaluate the constant few-shot prefix into the KV cache (ms); call after loading the model
    so the first fill request does not pay for it."""
    t0 = time.perf_counter()
    engine.prime([engine.llm.token_bos(), *engine.tokenize(FEW_SHOT)])
    return (time.perf_counter() - t0) * 1000


def fill(engine: LlamaEngine | None, schema: dict, text: str, *, today: dt.date | None = None,
         dayfirst: bool = False, calibrate: bool = True, guess_optional_enums: bool = False,
         on_progress: Callable[[dict], None] | None = None, budget_s: float = 0.0,
         clock: Callable[[], float] = time.monotonic) -> FillResult:
    """Fill ``schema`` (an object schema) from ``text``. The result always validates.

    ``engine`` may be None (deterministic extraction only; LLM-only fields are skipped).
    ``today`` anchors relative dates ("yesterday"); ``dayfirst`` reads 03/04/2024 as 3 April.
    ``budget_s`` bounds the fill's time (``clock``, from the call, model time included; 0 = no
    bound): the extractors always run, model steps only while the budget lasts; the fields whose
    model step it did not allow are left out and listed in ``stats["budget_skipped"]``.
    """
    return FormFiller(engine, schema, text, today=today, dayfirst=dayfirst, calibrate=calibrate,
                      guess_optional_enums=guess_optional_enums, on_progress=on_progress,
                      budget_s=budget_s, clock=clock).run()


def fill_naive(engine: LlamaEngine, schema: dict, text: str) -> FillResult:
    """Baseline for the evaluation: one prompt + a grammar compiled from the whole schema."""
    grammar = engine.grammar_from_schema(schema)
    prompt = f"Text: {text.strip()}\nFill the form as JSON.\nJSON:"
    t0 = time.perf_counter()
    out = engine.complete(prompt, max_tokens=256, grammar=grammar)
    try:
        answers = json.loads(out.text)
    except json.JSONDecodeError:
        answers = {}
    stats = {"prompt_tokens": out.prompt_tokens, "gen_tokens": out.gen_tokens, "ttft_ms": out.ttft_ms,
             "total_ms": (time.perf_counter() - t0) * 1000, "tokens_per_s": out.tokens_per_s}
    return FillResult(answers=answers, evidence={k: None for k in answers}, stats=stats)
