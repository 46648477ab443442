# ruff: noqa: E501
"""Source of dev.jsonl / heldout.jsonl (kept as Python for readability). Run to regenerate."""
import json

DEV = [
 ("incident_report", "My name is Daniel Okafor and I want to report that my bicycle was stolen from the rack outside Central Library on 2024-03-14. I locked it at 9am and when I came back at noon the lock was cut. Nobody was hurt. You can reach me at daniel.okafor@example.com.",
  {"reporter_name": "Daniel Okafor", "reporter_email": "daniel.okafor@example.com", "incident_date": "2024-03-14", "incident_type": "theft", "location": "Central Library", "injuries": False}),
 ("incident_report", "On March 3, 2024 two men attacked a cashier at the Riverside petrol station. The cashier was punched and taken to hospital with a broken nose. I am Maria Lopez, the night manager.",
  {"reporter_name": "Maria Lopez", "incident_date": "2024-03-03", "incident_type": "assault", "location": "Riverside petrol station", "injuries": True, "people_involved": 3}),
 ("incident_report", "Someone spray-painted graffiti all over the walls of the Elm Street community centre overnight. Windows were also smashed. Reported by Tom Becker (tbecker@mail.org) on 12/05/2024.",
  {"reporter_name": "Tom Becker", "reporter_email": "tbecker@mail.org", "incident_date": "2024-12-05", "incident_type": "vandalism", "location": "Elm Street community centre"}),
 ("incident_report", "I received a phone call from someone pretending to be my bank and they convinced me to transfer 2,000 euros. I only realised it was a scam the next day. This happened on 7 January 2024. Anna Schmidt, anna.schmidt@web.de",
  {"reporter_name": "Anna Schmidt", "reporter_email": "anna.schmidt@web.de", "incident_date": "2024-01-07", "incident_type": "fraud"}),
 ("incident_report", "Collision between a delivery van and a car at the junction of King Road and Mill Lane on 2024-06-21. Both drivers were shaken but unhurt. Four people were involved in total.",
  {"incident_date": "2024-06-21", "incident_type": "traffic_accident", "location": "junction of King Road and Mill Lane", "injuries": False, "people_involved": 4}),
 ("incident_report", "When I got home on 2 February 2024 the back door of my house at 14 Oak Avenue had been forced open and my TV and jewellery were gone. Reporter: Priya Nair.",
  {"reporter_name": "Priya Nair", "incident_date": "2024-02-02", "incident_type": "burglary", "location": "14 Oak Avenue"}),
 ("incident_report", "A colleague keeps sending me offensive messages and following me around the parking garage at work. It has been going on for weeks. Please contact me at j.kim@corp.example.",
  {"reporter_email": "j.kim@corp.example", "incident_type": "harassment", "location": "the parking garage at work"}),
 ("incident_report", "I am writing to report that a pickpocket took my wallet on the number 12 bus on 2024-09-30. I didn't feel a thing and no one was injured. Regards, Lukas Weber",
  {"reporter_name": "Lukas Weber", "incident_date": "2024-09-30", "incident_type": "theft", "location": "the number 12 bus", "injuries": False}),
 ("incident_report", "A cyclist was knocked down by a taxi outside the train station on 18 April 2024. The cyclist broke an arm. Two people were involved. Reported by Sam Carter, sam.carter@example.net.",
  {"reporter_name": "Sam Carter", "reporter_email": "sam.carter@example.net", "incident_date": "2024-04-18", "incident_type": "traffic_accident", "location": "the train station", "injuries": True, "people_involved": 2}),

 ("event_registration", "Hi, I'm Laura Chen from Acme Robotics and I'd like to register for the conference on 2024-10-15. One VIP ticket please. I'm vegetarian. My email is laura.chen@acme-robotics.com and my phone is +1 415 555 0134.",
  {"full_name": "Laura Chen", "company": "Acme Robotics", "event_date": "2024-10-15", "ticket_type": "vip", "attendees": 1, "dietary_requirements": ["vegetarian"], "email": "laura.chen@acme-robotics.com", "phone": "+1 415 555 0134"}),
 ("event_registration", "Please sign up three of us for the workshop on November 2, 2024. Standard tickets. We will drive, so we need a parking spot. Contact: Mark Davies, mark@daviesbuild.co.uk.",
  {"full_name": "Mark Davies", "email": "mark@daviesbuild.co.uk", "event_date": "2024-11-02", "ticket_type": "standard", "attendees": 3, "needs_parking": True}),
 ("event_registration", "Student here! Name's Aisha Bello, I'm coming alone by bus so no parking needed. I'm vegan and allergic to nuts. aisha.bello@uni.edu",
  {"full_name": "Aisha Bello", "email": "aisha.bello@uni.edu", "ticket_type": "student", "attendees": 1, "needs_parking": False, "dietary_requirements": ["vegan", "nut_allergy"]}),
 ("event_registration", "Registration for Pedro Alvarez, Globex Corporation, 2 attendees, VIP. We need halal meals. Phone 555-0199. The event is on 2025-01-20.",
  {"full_name": "Pedro Alvarez", "company": "Globex Corporation", "attendees": 2, "ticket_type": "vip", "dietary_requirements": ["halal"], "phone": "555-0199", "event_date": "2025-01-20"}),
 ("event_registration", "Hello, this is Emma Wilson. I'd like a standard ticket for myself for the meetup on 5 March 2025. No special diet. My email: emma.w@gmail.com",
  {"full_name": "Emma Wilson", "ticket_type": "standard", "attendees": 1, "event_date": "2025-03-05", "email": "emma.w@gmail.com"}),
 ("event_registration", "Can I get four student tickets for the hackathon? I'm Kenji Sato, kenji.sato@student.example.jp. Two of us are gluten free.",
  {"full_name": "Kenji Sato", "email": "kenji.sato@student.example.jp", "ticket_type": "student", "attendees": 4, "dietary_requirements": ["gluten_free"]}),
 ("event_registration", "Register Olivia Martin from Initech for the gala dinner on 14/02/2025. She will need a parking place and a kosher meal. Call 020 7946 0958.",
  {"full_name": "Olivia Martin", "company": "Initech", "event_date": "2025-02-14", "needs_parking": True, "dietary_requirements": ["kosher"], "phone": "020 7946 0958"}),
 ("event_registration", "Hey! Noah Brown here. Put me down for the summit, VIP if possible, plus one guest, so two people. I'll take the train. noah.brown@outlook.com",
  {"full_name": "Noah Brown", "ticket_type": "vip", "attendees": 2, "needs_parking": False, "email": "noah.brown@outlook.com"}),
 ("event_registration", "I would like to attend the seminar on 2024-12-01. My name is Fatima Zahra and I work at Northwind Traders. I eat halal food only. Email fatima.zahra@northwind.com.",
  {"full_name": "Fatima Zahra", "event_date": "2024-12-01", "company": "Northwind Traders", "dietary_requirements": ["halal"], "email": "fatima.zahra@northwind.com"}),

 ("support_ticket", "My laptop won't turn on at all since this morning and I have a deadline today, this is urgent! Order number AB-48213, bought on 2024-05-02 and still under warranty. - James Miller, james.miller@example.com",
  {"customer_name": "James Miller", "customer_email": "james.miller@example.com", "order_number": "AB-48213", "product": "laptop", "severity": "critical", "purchase_date": "2024-05-02", "under_warranty": True}),
 ("support_ticket", "Hello, the left earbud of my headphones is a bit quieter than the right one. Not a big deal, just wanted to let you know. Sophie Turner",
  {"customer_name": "Sophie Turner", "product": "headphones", "severity": "low"}),
 ("support_ticket", "The printer I ordered (order #PR-77120) keeps jamming every few pages. It's annoying and slows our office down. I bought it on 10 August 2024. Contact: office@brightdental.com",
  {"order_number": "PR-77120", "product": "printer", "severity": "medium", "purchase_date": "2024-08-10", "customer_email": "office@brightdental.com"}),
 ("support_ticket", "Our router drops the connection every hour and the whole team loses internet access. We can barely work. Order RT-55019. The warranty expired last month. Regards, Ahmed Hassan",
  {"customer_name": "Ahmed Hassan", "product": "router", "order_number": "RT-55019", "severity": "high", "under_warranty": False}),
 ("support_ticket", "My smartwatch strap broke after two weeks. It's a minor issue but I'd like a replacement. Purchased 2024-07-19. Lena Fischer, lena.f@posteo.de",
  {"customer_name": "Lena Fischer", "customer_email": "lena.f@posteo.de", "product": "smartwatch", "severity": "low", "purchase_date": "2024-07-19"}),
 ("support_ticket", "Tablet screen cracked by itself?! The touch no longer works on half the screen, so I can't really use it. Order number TB-90311, still within warranty. carlos.ruiz@example.org",
  {"product": "tablet", "severity": "high", "order_number": "TB-90311", "under_warranty": True, "customer_email": "carlos.ruiz@example.org"}),
 ("support_ticket", "I'm Grace Hopper. My smartphone battery drains faster than it used to, maybe 20% less than before. Bought it on 3 January 2024. Moderate problem, not urgent.",
  {"customer_name": "Grace Hopper", "product": "smartphone", "purchase_date": "2024-01-03", "severity": "medium"}),
 ("support_ticket", "URGENT: every laptop we received in order LP-20488 overheats and shuts down, our whole sales team is down. This is a critical outage. Contact it-admin@fabrikam.com.",
  {"product": "laptop", "order_number": "LP-20488", "severity": "critical", "customer_email": "it-admin@fabrikam.com"}),
 ("support_ticket", "Hi, I'm Oliver Smith. The router's status light blinks orange sometimes but internet works fine. Low priority. Order RT-10022.",
  {"customer_name": "Oliver Smith", "product": "router", "severity": "low", "order_number": "RT-10022"}),

 ("leave_request", "Hi, this is Rachel Green. I would like to take vacation from 2024-07-01 to 2024-07-12, that's 10 working days. My manager is monica.geller@company.com.",
  {"employee_name": "Rachel Green", "leave_type": "vacation", "start_date": "2024-07-01", "end_date": "2024-07-12", "days": 10, "manager_email": "monica.geller@company.com"}),
 ("leave_request", "I'm sick with the flu and can't come in. Please record sick leave starting 5 March 2024 for 3 days. Ben Adams",
  {"employee_name": "Ben Adams", "leave_type": "sick", "start_date": "2024-03-05", "days": 3}),
 ("leave_request", "My wife is due in June, so I am requesting parental leave from 2024-06-10 until 2024-08-30. Joe Rossi. Please cc my manager at h.ito@company.com.",
  {"employee_name": "Joe Rossi", "leave_type": "parental", "start_date": "2024-06-10", "end_date": "2024-08-30", "manager_email": "h.ito@company.com"}),
 ("leave_request", "My grandmother passed away and the funeral is on Friday. I need bereavement leave for 2 days starting 2024-11-14. Thanks, Chloe Dubois",
  {"employee_name": "Chloe Dubois", "leave_type": "bereavement", "days": 2, "start_date": "2024-11-14"}),
 ("leave_request", "Requesting 5 days of unpaid leave from 2025-01-06 to 2025-01-10 to handle a family matter. Manager: peter.parker@company.com",
  {"leave_type": "unpaid", "days": 5, "start_date": "2025-01-06", "end_date": "2025-01-10", "manager_email": "peter.parker@company.com"}),
]

HELDOUT = [
 ("incident_report", "I am Henrik Larsen. Yesterday evening, 2024-08-08, somebody smashed the windscreen of my car in the Westgate car park. Nothing was taken and nobody got hurt. Email me at henrik.larsen@example.dk.",
  {"reporter_name": "Henrik Larsen", "incident_date": "2024-08-08", "incident_type": "vandalism", "location": "Westgate car park", "injuries": False, "reporter_email": "henrik.larsen@example.dk"}),
 ("incident_report", "Someone used my credit card details to buy electronics online on 22 May 2024. I never authorised these payments. Contact: r.patel@mailbox.org",
  {"reporter_email": "r.patel@mailbox.org", "incident_date": "2024-05-22", "incident_type": "fraud"}),
 ("incident_report", "Burglars broke into the warehouse at 9 Dock Street during the night of 2024-10-03 and took several laptops. Reported by security officer Kevin O'Brien.",
  {"reporter_name": "Kevin O'Brien", "incident_date": "2024-10-03", "incident_type": "burglary", "location": "9 Dock Street"}),
 ("incident_report", "A man punched a bouncer outside the Blue Moon bar on 1 June 2024. The bouncer needed stitches. Two people were involved. - Nina Petrova, nina.petrova@example.com",
  {"reporter_name": "Nina Petrova", "reporter_email": "nina.petrova@example.com", "incident_date": "2024-06-01", "incident_type": "assault", "location": "the Blue Moon bar", "injuries": True, "people_involved": 2}),
 ("incident_report", "My handbag was snatched at the farmers market on 2024-04-27. I wasn't injured. Zoe Clark.",
  {"reporter_name": "Zoe Clark", "incident_date": "2024-04-27", "incident_type": "theft", "location": "the farmers market", "injuries": False}),

 ("event_registration", "Hi, Daniel Kim from Umbrella Labs. Please book two VIP tickets for the expo on 2025-04-09. One of us is vegetarian. We'll need parking. daniel.kim@umbrella-labs.com",
  {"full_name": "Daniel Kim", "company": "Umbrella Labs", "ticket_type": "vip", "attendees": 2, "event_date": "2025-04-09", "dietary_requirements": ["vegetarian"], "needs_parking": True, "email": "daniel.kim@umbrella-labs.com"}),
 ("event_registration", "I'm a student, Lucia Romano, and I'd like one ticket for the lecture on 18 March 2025. I'm gluten free. Mobile: 347-555-0112.",
  {"full_name": "Lucia Romano", "ticket_type": "student", "attendees": 1, "event_date": "2025-03-18", "dietary_requirements": ["gluten_free"], "phone": "347-555-0112"}),
 ("event_registration", "Register me, Thomas Nguyen, for the networking evening. Standard ticket. I'm coming by bike so I don't need parking. thomas.nguyen@proton.me",
  {"full_name": "Thomas Nguyen", "ticket_type": "standard", "needs_parking": False, "email": "thomas.nguyen@proton.me"}),
 ("event_registration", "Booking for five people from Stark Industries under the name Pepper Potts. Standard tickets, event on 2025-05-30. We need vegan and kosher options.",
  {"full_name": "Pepper Potts", "company": "Stark Industries", "attendees": 5, "ticket_type": "standard", "event_date": "2025-05-30", "dietary_requirements": ["vegan", "kosher"]}),
 ("event_registration", "Hello, my name is Samir Haddad and I'd like to come to the conference. I need halal food. Contact samir.haddad@example.com or +44 7700 900123.",
  {"full_name": "Samir Haddad", "dietary_requirements": ["halal"], "email": "samir.haddad@example.com", "phone": "+44 7700 900123"}),

 ("support_ticket", "The smartphone I bought on 2024-02-14 restarts randomly several times a day. It's frustrating but I can still make calls. Order SP-30987. Mia Johnson, mia.johnson@example.com",
  {"customer_name": "Mia Johnson", "customer_email": "mia.johnson@example.com", "product": "smartphone", "purchase_date": "2024-02-14", "order_number": "SP-30987", "severity": "medium"}),
 ("support_ticket", "CRITICAL: our office printer caught fire and smoke is coming out of it! Order PR-66001. Still under warranty. Facilities team, facilities@contoso.com",
  {"product": "printer", "severity": "critical", "order_number": "PR-66001", "under_warranty": True, "customer_email": "facilities@contoso.com"}),
 ("support_ticket", "Just a small cosmetic scratch on my new tablet, no functional problem. Low priority. Bought 5 September 2024. Ivan Petrov",
  {"customer_name": "Ivan Petrov", "product": "tablet", "severity": "low", "purchase_date": "2024-09-05"}),
 ("support_ticket", "Headphones stopped charging completely, I cannot use them at all for my daily calls. Order HP-44120, warranty ended in March. Elena Popescu (elena.p@example.ro)",
  {"customer_name": "Elena Popescu", "customer_email": "elena.p@example.ro", "product": "headphones", "order_number": "HP-44120", "under_warranty": False, "severity": "high"}),
 ("support_ticket", "Hi, I'm Paul Meyer. My smartwatch shows the wrong time after every sync. Medium priority please. Purchased on 2024-06-11.",
  {"customer_name": "Paul Meyer", "product": "smartwatch", "severity": "medium", "purchase_date": "2024-06-11"}),

 ("leave_request", "Hello, I'm Sara Lind. I'd like to book vacation from 12 August 2024 to 16 August 2024, 5 days in total. My manager's email is anders.berg@company.com.",
  {"employee_name": "Sara Lind", "leave_type": "vacation", "start_date": "2024-08-12", "end_date": "2024-08-16", "days": 5, "manager_email": "anders.berg@company.com"}),
 ("leave_request", "I have a fever and the doctor told me to stay home. Sick leave from 2024-02-19 for 2 days please. Omar Farouk",
  {"employee_name": "Omar Farouk", "leave_type": "sick", "start_date": "2024-02-19", "days": 2}),
 ("leave_request", "Requesting parental leave starting 2025-03-01 for my newborn daughter. Regards, Liam Walsh",
  {"employee_name": "Liam Walsh", "leave_type": "parental", "start_date": "2025-03-01"}),
]


def write(name, rows):
    with open(name, "w") as fh:
        for i, (form, text, expected) in enumerate(rows):
            fh.write(json.dumps({"id": f"{name.split('.')[0]}-{i:02d}", "form": form, "text": text,
                                 "expected": expected}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write("dev.jsonl", DEV)
    write("heldout.jsonl", HELDOUT)
    print(len(DEV), len(HELDOUT))
