"""Generic fill behaviours on made-up forms: dates of birth, questions, motivations, reasons.

Each runs the deterministic extractors only (no model), so what is asserted is the rule itself. Each
rule has its negative too: the ordinary text it must not fire on (review 17's probes: 'Grade: B.',
'a T-bone', 'Cardiff', 'Dear Team', 'Invoice 20231', a child's date of birth), all sentences made up.
"""

from __future__ import annotations

import datetime as dt

from inference.fill import fill

DATES = {
    "type": "object",
    "properties": {
        "member_dob": {"type": "string", "format": "date"},
        "visit_date": {"type": "string", "format": "date"},
    },
}


def test_a_date_of_birth_needs_a_birth_cue_or_a_distant_year():
    # an event date is no birth date: it goes to the other date field
    res = fill(None, DATES, "Member: Olu Bakare. Came in on 4 March 2025 about the boiler.")
    assert res.answers == {"visit_date": "2025-03-04"}
    # a birth cue claims its date even when the birth field comes first and the cue is abbreviated
    res = fill(None, DATES, "Olu Bakare, d.o.b. 1971-11-02, visited 4 March 2025.")
    assert res.answers == {"member_dob": "1971-11-02", "visit_date": "2025-03-04"}
    # a date many years before today is the birth date, a recent one is not
    res = fill(None, DATES, "Olu Bakare 1971-11-02, visit 2025-03-04", today=dt.date(2025, 3, 1))
    assert res.answers == {"member_dob": "1971-11-02", "visit_date": "2025-03-04"}
    # a cue before an earlier date is not this date's cue
    res = fill(None, DATES, "Olu (born 1971-11-02), paid cash, visit 2025-03-04")
    assert res.answers == {"member_dob": "1971-11-02", "visit_date": "2025-03-04"}


ENQUIRY = {
    "type": "object",
    "properties": {
        "arrival": {"type": "string", "format": "date"},
        "asks": {"type": "string", "maxLength": 300, "title": "Your questions"},
        "why_us": {"type": "string", "maxLength": 300, "title": "Motivation"},
    },
}


def test_questions_are_the_writers_questions_that_state_no_other_field():
    text = ("Hello! Is 2025-07-01 free for the cabin? We come with two dogs. "
            "Can we bring our own firewood? Thanks, Ines")
    res = fill(None, ENQUIRY, text)
    assert res.answers["arrival"] == "2025-07-01"
    assert res.answers["asks"] == "Can we bring our own firewood?"  # the first question asks for the date
    # an indirect question is the clause that asks, without its lead-in
    res = fill(None, ENQUIRY, "Booking for the cabin - we are new here, so we'd like to know if pets are allowed.")
    assert res.answers["asks"] == "we'd like to know if pets are allowed"
    assert "asks" not in fill(None, ENQUIRY, "Booking the cabin for two. Pets allowed, I read.").answers


def test_a_motivation_is_what_the_writer_wants_to_do_or_labels_why():
    res = fill(None, ENQUIRY, "I'm Ines. We would like to learn to sail this summer. Call me.")
    assert res.answers["why_us"] == "We would like to learn to sail this summer."
    res = fill(None, ENQUIRY, "I'm Ines, from Porto. Why: my grandfather built boats here.")
    assert res.answers["why_us"] == "my grandfather built boats here"
    assert "why_us" not in fill(None, ENQUIRY, "I'm Ines, from Porto. Sailing in July.").answers


def test_a_reason_after_because_with_any_subject_and_a_singular_label_for_a_plural_field():
    schema = {"type": "object", "properties": {
        "refund_reason": {"type": "string", "maxLength": 200},
        "delivery-notes": {"type": "string", "maxLength": 200},
    }}
    text = "Please refund me because my parcel arrived crushed. Note: leave it with the porter."
    res = fill(None, schema, text)
    assert res.answers == {"refund_reason": "my parcel arrived crushed",
                           "delivery-notes": "leave it with the porter"}


def test_an_option_by_one_of_its_titles_alternatives_and_a_short_option_cut_from_a_capitalised_word():
    schema = {"type": "object", "properties": {
        "dwelling": {"oneOf": [{"const": "apt", "title": "Apartment / condo"},
                               {"const": "house", "title": "Detached house"}]},
        "slots": {"type": "array", "items": {"type": "string", "enum": ["mon", "tue", "wed", "sat", "sun"]}},
    }}
    res = fill(None, schema, "We rent a small condo downtown and can meet on Tuesdays or Sundays.")
    assert res.answers["dwelling"] == "apt"
    assert sorted(res.answers["slots"]) == ["sun", "tue"]
    # a capital at a sentence's start, or a small word, is no day: 'Money' is not 'mon', 'wedding' not 'wed'
    res = fill(None, schema, "Money is tight. Our wedding is soon, the satellite dish is broken.")
    assert "slots" not in res.answers


def test_a_rating_on_the_fields_own_scale():
    schema = {"type": "object", "properties": {
        "comfort": {"type": "integer", "minimum": 1, "maximum": 5},
        "noise": {"type": "integer", "minimum": 0, "maximum": 10, "title": "Noise level"},
    }}
    res = fill(None, schema, "Seats were fine, 4/5 overall. The noise was about 8 out of 10.")
    assert res.answers == {"comfort": 4, "noise": 8}
    # a fraction on another scale, or a date, is no rating
    assert fill(None, schema, "Finished 3/4 of the trip on 4/5/2025.").answers == {}


def test_a_labelled_name_runs_past_an_initials_or_honorifics_dot_and_co_labels_are_their_own():
    schema = {"type": "object", "properties": {
        "tenant_name": {"type": "string", "title": "Tenant name"},
        "guarantor": {"type": "string", "title": "Co-tenant name"},
        "witness": {"type": "string", "title": "Witness name"},
    }}
    text = "Tenant: J. Okoro. Co-tenant: Amy Okoro. Witness: Prof. Lena Berg."
    res = fill(None, schema, text)
    assert res.answers["tenant_name"] == "J. Okoro"
    assert res.answers["guarantor"] == "Amy Okoro"
    assert res.answers["witness"] == "Lena Berg"


def test_a_weight_in_tonnes_is_read_in_the_fields_kilograms():
    schema = {"type": "object", "properties": {"cargo_weight_kg": {"type": "number", "minimum": 0}}}
    assert fill(None, schema, "One trailer of bricks, 12.5 t gross, to Leeds.").answers == {"cargo_weight_kg": 12500}
    assert fill(None, schema, "Two pallets, 3 tonnes in all.").answers == {"cargo_weight_kg": 3000}


def test_a_one_noun_field_takes_the_proper_name_ending_in_its_noun():
    schema = {"type": "object", "properties": {"club": {"type": "string"}, "notes": {"type": "string"}}}
    res = fill(None, schema, "I have played for Riverside Lawn Tennis Club since May; the club is friendly.")
    assert res.answers["club"] == "Riverside Lawn Tennis Club"
    assert "club" not in fill(None, schema, "I play at the club near my house.").answers


def test_an_old_date_is_a_date_of_birth_but_a_recent_one_after_a_name_is_not():
    res = fill(None, DATES, "New member: Olu Bakare, 1971-11-02, plays on Sundays.", today=dt.date(2025, 3, 1))
    assert res.answers == {"member_dob": "1971-11-02"}
    res = fill(None, DATES, "Seen at Camden, 2025-03-04, by the nurse.")
    assert res.answers == {"visit_date": "2025-03-04"}
    # a name then a date is no birth date when the date is recent (B4)
    res = fill(None, DATES, "Booked by receptionist: Olu Bakare, 2025-06-01.")
    assert res.answers == {"visit_date": "2025-06-01"}


def test_the_birth_date_is_a_ranking_that_loses_no_date():
    # a child's date of birth is only a few years back: still the oldest date, so still the birth date
    schema = {"type": "object", "properties": {
        "child_dob": {"type": "string", "format": "date", "title": "Child's date of birth"},
        "start_date": {"type": "string", "format": "date"},
    }}
    for today in (dt.date(2025, 8, 1), None):
        res = fill(None, schema, "Tomi (2020-05-06) should start on 2025-09-08.", today=today)
        assert res.answers == {"child_dob": "2020-05-06", "start_date": "2025-09-08"}
    # an old start date stays the start date when the birth date is cued
    schema = {"type": "object", "properties": {
        "date_of_birth": {"type": "string", "format": "date"},
        "employment_start": {"type": "string", "format": "date"},
    }}
    res = fill(None, schema, "I joined Brightline on 2004-10-04 and still work there. DOB 1979-03-05.",
               today=dt.date(2026, 12, 1))
    assert res.answers == {"date_of_birth": "1979-03-05", "employment_start": "2004-10-04"}
    # a lone birth field takes its date without today; a cued birth date in the future drops no other
    assert fill(None, {"type": "object", "properties": {"dob": {"type": "string", "format": "date"}}},
                "Lena Berg 1988-07-09").answers == {"dob": "1988-07-09"}
    res = fill(None, DATES, "Born 2098-02-02, visit 2021-03-03")
    assert res.answers == {"member_dob": "2098-02-02", "visit_date": "2021-03-03"}
    # another field's cue near every date claims none of them: the oldest is still the birth date
    schema = {"type": "object", "properties": {
        "dob": {"type": "string", "format": "date"},
        "last_shift": {"type": "string", "format": "date", "title": "Date of last shift"},
    }}
    res = fill(None, schema, "Shift sign-up: Ada Obi, 1990-03-04, 1 earlier shift (2024-05-06).")
    assert res.answers == {"dob": "1990-03-04", "last_shift": "2024-05-06"}
    # two cued birth dates go to two birth fields
    schema = {"type": "object", "properties": {
        "applicant_dob": {"type": "string", "format": "date"},
        "spouse_dob": {"type": "string", "format": "date", "title": "Spouse date of birth"},
        "start_date": {"type": "string", "format": "date"},
    }}
    res = fill(None, schema, "I was born 1981-04-04; my spouse was born 1983-06-07. We start on 2025-05-05.")
    assert res.answers == {"applicant_dob": "1981-04-04", "spouse_dob": "1983-06-07", "start_date": "2025-05-05"}


def test_only_a_name_runs_past_a_one_letter_or_honorific_dot():
    cases = [({"grade": {"type": "string", "title": "Grade"}}, "Grade: B. The exam went fine and I passed.", "B"),
             ({"blood_group": {"type": "string", "maxLength": 10}}, "Blood group: O. Weight 70 kg.", "O"),
             ({"section": {"type": "string"}}, "Section: C. Row 5.", "C"),
             ({"street": {"type": "string"}}, "Street: Elm Dr. Call me later.", "Elm Dr"),
             ({"size": {"type": "string"}}, "Size: M. Colour: red.", "M"),
             # a name runs past the dot whatever its field is called
             ({"grntr": {"type": "string", "title": "Guarantor"}}, "Guarantor: Capt. Rhea Mistry. Pays 5 lakh.",
              "Capt. Rhea Mistry")]
    for props, text, value in cases:
        name = next(iter(props))
        assert fill(None, {"type": "object", "properties": props}, text).answers == {name: value}


def test_a_t_shirt_or_a_t_bone_weighs_no_tonne():
    schema = {"type": "object", "properties": {"weight_kg": {"type": "number", "minimum": 0}}}
    for text in ["I ate a T-bone steak before the weigh-in.", "Size: one T-shirt please.",
                 "We ordered 40 T-shirts and 2 mugs.", "Walk 5 mt to the gate.", "We had a ton of paperwork."]:
        assert fill(None, schema, text).answers == {}, text
    assert fill(None, schema, "Box of 3 t-shirts, 2 kg.").answers == {"weight_kg": 2}


def test_a_plan_or_a_hope_is_no_motivation_or_purpose():
    schema = {"type": "object", "properties": {"motivation": {"type": "string", "maxLength": 300},
                                               "purpose_of_visit": {"type": "string", "maxLength": 300}}}
    assert fill(None, schema, "We plan to arrive at 5pm on Friday. Please confirm.").answers == {}
    assert fill(None, schema, "We hope to see you soon.").answers == {}
    assert fill(None, schema, "I want to come on 3 May with my dog.").answers == {}


def test_a_question_needs_a_request_frame_and_more_than_one_word():
    schema = {"type": "object", "properties": {"questions": {"type": "string", "maxLength": 300}}}
    for text in ["The form asks whether I smoke. I don't know if that matters.",
                 "Why? Because I said so.", "Let me know if you need anything else."]:
        assert fill(None, schema, text).answers == {}, text
    res = fill(None, schema, "Hi there, could you tell me whether the hall has a piano.")
    assert res.answers == {"questions": "could you tell me whether the hall has a piano"}


def test_a_reason_after_because_i():
    schema = {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 200}}}
    res = fill(None, schema, "I cancelled because I was ill that week.")
    assert res.answers == {"reason": "I was ill that week"}


def test_two_singular_labels_give_the_same_answer_in_every_process():
    import os
    import subprocess
    import sys
    code = ("from inference.fill import fill; print(fill(None, {'type': 'object', 'properties': "
            "{'remarks_comments': {'type': 'string', 'maxLength': 200}}}, "
            "'Remark: ring twice. Comment: leave at door.').answers)")
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in range(6)}
    assert len(seen) == 1


def test_a_short_option_is_read_from_day_and_month_names_only():
    cases = [({"payment": {"enum": ["cash", "card", "upi"]}}, "I live in Cardiff and will pay when I arrive."),
             ({"sex": {"enum": ["male", "female", "other"]}}, "Patient is Maleeha Khan, 34, with a rash on her arm."),
             ({"slots": {"type": "array", "items": {"type": "string", "enum": ["mon", "tue", "sat", "sun"]}}},
              "I met Monica and Sunil at the Saturn cafe.")]
    for props, text in cases:
        assert fill(None, {"type": "object", "properties": props}, text).answers == {}, text
    months = {"type": "object", "properties": {
        "months": {"type": "array", "items": {"type": "string", "enum": ["jan", "feb", "sept", "dec"]}}}}
    assert sorted(fill(None, months, "We are away in February and September.").answers["months"]) == ["feb", "sept"]
    months["properties"]["months"]["items"]["enum"].append("mar")
    assert fill(None, months, "We march on, a decent crowd.").answers == {}  # a month only with its capital


def test_short_options_scale_linearly_with_the_text():
    import time
    schema = {"type": "object", "properties": {
        "days": {"type": "array", "items": {"type": "string", "enum": ["mon", "tue", "wed", "sat", "sun"]}}}}
    text = (" ".join(["met Monica, Sunil and Satish on Wednesdays"] * 470))[:20000]
    t0 = time.perf_counter()
    assert fill(None, schema, text).answers == {"days": ["wed"]}
    assert time.perf_counter() - t0 < 5  # one scan per option, not one per capitalised word


def test_a_salutation_or_a_sentence_end_is_no_part_of_a_named_noun():
    for props, text in [({"team": {"type": "string"}}, "Dear Team, I would like to join on Monday."),
                        ({"council": {"type": "string"}}, "Dear Council, the bins were not collected."),
                        ({"court": {"type": "string"}}, "The case was heard on Monday. Next Court date unknown.")]:
        assert fill(None, {"type": "object", "properties": props}, text).answers == {}, text


def test_a_word_beside_a_number_is_no_town_outside_an_address():
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    for text in ["Thanks for the quick reply, Invoice 20231 is attached.", "I paid on time, Ticket 123 45 still open.",
                 "Total, Amount 15000 paid."]:
        assert "city" not in fill(None, schema, text).answers, text


def test_a_wh_title_without_the_writer_as_subject_names_no_clause():
    schema = {"type": "object", "properties": {
        "what_went_wrong": {"type": "string", "title": "What went wrong", "maxLength": 300}}}
    assert fill(None, schema, "I went to the shop on Monday. The kettle I bought leaks.").answers == {}
    seen = {"type": "object", "properties": {"seen": {"type": "string", "maxLength": 300, "title": "What you saw"}}}
    assert fill(None, seen, "I saw the dentist on Monday about my tooth.").answers == {}


def test_a_yes_no_is_not_read_from_a_title_word_its_siblings_share():
    schema = {"type": "object", "properties": {
        "first_vis": {"type": "boolean", "title": "First-time visitor"},
        "needs_help": {"type": "boolean", "title": "Disabled visitor"},
    }}
    assert fill(None, schema, "I'm a regular visitor of the museum, arriving at ten.").answers == {}


def test_a_wh_title_names_the_clause_of_its_verb():
    schema = {"type": "object", "properties": {
        "when": {"type": "string", "format": "date"},
        "seen": {"type": "string", "maxLength": 300, "title": "What you noticed"},
    }}
    text = "On 2025-04-02 I was waiting at the gate when I noticed a drone circling the runway. I left at five."
    res = fill(None, schema, text)
    assert res.answers == {"when": "2025-04-02", "seen": "I noticed a drone circling the runway"}
    assert "seen" not in fill(None, schema, "On 2025-04-02 I was waiting at the gate.").answers


def test_a_city_is_the_town_beside_the_postcode_of_an_address():
    schema = {"type": "object", "properties": {
        "address": {"type": "string", "maxLength": 200},
        "city": {"type": "string"},
    }}
    for text, town in [("Room to let at 4 Mill Road, Cambridge CB1 2AD, bills included.", "Cambridge"),
                       ("Office space, 7 rue Sainte-Catherine, 33000 Bordeaux. Call us.", "Bordeaux"),
                       ("Condo at 88 Pine St, Seattle, WA 98101 with parking.", "Seattle")]:
        assert fill(None, schema, text).answers["city"] == town
    assert "city" not in fill(None, schema, "Room to let near the station, bills included.").answers


def test_a_head_count_is_said_with_any_word_for_people_and_tens_in_words():
    schema = {"type": "object", "properties": {
        "group_size": {"type": "integer", "minimum": 2, "maximum": 60, "title": "Party size"},
        "tables": {"type": "integer", "minimum": 1, "maximum": 10},
    }}
    assert fill(None, schema, "Lunch on Friday, 12 people, 3 tables please.").answers == {"group_size": 12, "tables": 3}
    assert fill(None, schema, "We are thirty-five guests in all.").answers == {"group_size": 35}


def test_numbers_in_words_with_a_multiplier():
    schema = {"type": "object", "properties": {
        "attendees": {"type": "integer", "minimum": 1, "maximum": 1000},
        "budget": {"type": "number", "minimum": 0},
    }}
    res = fill(None, schema, "About one hundred and twenty attendees; our budget is three thousand dollars.")
    assert res.answers == {"attendees": 120, "budget": 3000}
    assert fill(None, schema, "Budget: two lakh fifty thousand.").answers == {"budget": 250000}


def test_a_description_that_counts_people_and_a_fortnight_of_days():
    schema = {"type": "object", "properties": {
        "reach": {"type": "integer", "minimum": 0, "description": "Number of people the course will serve"},
        "lasted_days": {"type": "integer", "minimum": 0, "maximum": 365, "title": "Duration in days"},
    }}
    res = fill(None, schema, "We expect 400 attendees at 3 venues; the pilot lasted a fortnight.")
    assert res.answers == {"reach": 400, "lasted_days": 14}


def test_a_number_word_that_picks_one_or_runs_into_another_counts_nobody():
    guests = {"type": "object", "properties": {"guests": {"type": "integer", "minimum": 1, "maximum": 500}}}
    reach = {"type": "object", "properties": {
        "reach": {"type": "integer", "minimum": 0, "description": "Number of people served"}}}
    for schema in (guests, reach):
        assert fill(None, schema, "My mum, one of the guests, is vegan.").answers == {}
    assert fill(None, guests, "We are open twenty-four seven for our guests.").answers == {}
    for text in ["This is one of the hundred reasons I love it.", "The view was a hundred times better.",
                 "People were friendly."]:
        assert fill(None, reach, text).answers == {}, text
    assert fill(None, guests, "Two of us are coming.").answers == {"guests": 2}


PLACES = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "address": {"type": "string"},
        "hospital": {"type": "string"},
    },
}


def test_a_short_forms_dot_ends_the_value_only_before_a_new_sentence():
    # 'St.' before a sentence opener ends the address; before a name it runs on
    res = fill(None, PLACES, "Address: 14 Baker St. Please call me on Monday.")
    assert res.answers == {"address": "14 Baker St"}
    res = fill(None, PLACES, "Hospital: St. Mary's Hospital. Name: Mohd. Ali Khan")
    assert res.answers["hospital"] == "St. Mary's Hospital"
    assert res.answers["name"] == "Mohd. Ali Khan"
    # the negatives: an ordinary word's dot still ends the value, and so does a short form's before a
    # sign-off or a sentence that looks like a name run (review 18's probes)
    res = fill(None, PLACES, "Name: Ali Khan. Please call back.")
    assert res.answers == {"name": "Ali Khan"}
    for text, value in [("Address: 4 Main St. Thank You.", "4 Main St"), ("Address: Elm St. Thanks", "Elm St"),
                        ("Address: Elm St. Regards, Ali", "Elm St"), ("Address: Elm Dr. Dear Sir, hi", "Elm Dr"),
                        ("Address: 1 High St. In the evening I am home.", "1 High St")]:
        assert fill(None, PLACES, text).answers.get("address") == value, text
    assert fill(None, PLACES, "Name: Mohd. Thanks").answers == {"name": "Mohd"}


def test_a_fields_own_label_word_is_never_its_value():
    # the address field takes the labelled hospital's words first; 'Hospital' (the label) is no hospital
    res = fill(None, PLACES, "Hospital: St. Mary's Hospital, London. Name: Dr. Jane Roe")
    assert res.answers.get("hospital") != "Hospital"
    assert res.answers["name"] == "Jane Roe"


def test_a_text_of_many_dates_asks_each_fields_cues_once_and_keeps_the_dates():
    """1,500 dates in 20,000 characters: the mention scorers ask for a field's cue words for every
    date (37,000 times, 10 s of a fill, when they were computed anew each time); now once a field."""
    from inference import fill as fl
    schema = {"type": "object", "properties": {
        "dob": {"type": "string", "format": "date", "title": "Date of birth, stress"},
        "visit_date": {"type": "string", "format": "date", "title": "Visit, stress"},
        "end_date": {"type": "string", "format": "date", "title": "End, stress"}}}
    text = " ".join(f"on {1 + i % 28} March {1990 + i % 30}," for i in range(1500))[:20000]
    fl._cues_of.cache_clear()
    res = fill(None, schema, text)
    assert fl._cues_of.cache_info().misses < 20  # a few per field, not one per date
    assert fl._cues_of.cache_info().hits > 1000
    assert res.answers == {"visit_date": "1990-03-01", "end_date": "1991-03-02"}


def test_disjoint_spans_answer_overlaps_as_a_scan_does():
    import random

    from inference.extract import DisjointSpans
    rng = random.Random(7)
    spans, index = [], DisjointSpans()
    for _ in range(400):
        a = rng.randrange(0, 2000)
        b = a + rng.randrange(1, 12)
        scan = any(s < b and a < e for s, e in spans)
        assert index.overlaps(a, b) == scan
        if not scan:
            spans.append((a, b))
            index.add(a, b)
    assert len(spans) > 100
