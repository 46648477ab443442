"""Generic fill behaviours on made-up forms: dates of birth, questions, motivations, reasons.

Each runs the deterministic extractors only (no model), so what is asserted is the rule itself.
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


def test_a_date_right_after_a_full_name_is_a_date_of_birth():
    res = fill(None, DATES, "New member: Olu Bakare, 1971-11-02, plays on Sundays.")
    assert res.answers == {"member_dob": "1971-11-02"}
    res = fill(None, DATES, "Seen at Camden, 2025-03-04, by the nurse.")
    assert res.answers == {"visit_date": "2025-03-04"}


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
