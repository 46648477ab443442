# ruff: noqa: E501
"""Source of ../heldout_forms.jsonl: narratives for forms the extractor was never tuned on.

Kept as Python for readability. Run it to regenerate the JSONL; it refuses to write if any
expected answer breaks its form's schema (formats checked), names a field without a kind, or
is a span-like value (name, place, code, email, phone, free text) that cannot be found in its
narrative — the held-out set must only ask for what a careful human could read off the text.
"""
import json
import re
import sys
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "heldout_forms.jsonl"
SPAN_KINDS = {"name", "place", "code", "email", "phone", "free_text"}
MIN_PER_FORM = 12

ROWS = [
 # --- police first-information report -------------------------------------------------
 ("fir", "To the SHO, P.S. Kotwali, District Kanpur Nagar. Sir, I, Ramesh Yadav, son of Mahesh Yadav, resident of 45 Gandhi Nagar, Kanpur, state that on 14/03/2024 at about 9:30 pm my Hero Splendor motorcycle (UP78 CD 4521) was stolen at Shanti Sweets parking, Mall Road. The bike is worth about Rs. 65,000. I did not see who took it. Mobile 9415012345.",
  {"complainant": "Ramesh Yadav", "father_husband_name": "Mahesh Yadav", "address": "45 Gandhi Nagar, Kanpur", "ps": "Kotwali", "district": "Kanpur Nagar", "occ_date": "2024-03-14", "occ_time": "21:30", "place_of_occurrence": "Shanti Sweets parking, Mall Road", "offence": "vehicle_theft", "property_value_rs": 65000, "accused_known": False, "mobile": "9415012345"}),
 ("fir", "Complainant: Sunita Devi W/o Rajesh Sharma, R/o Flat 12, Shivaji Apartments, Sector 9, Rohini, Delhi. Mob: 98110 23456. On 3 Mar 2024 around 7 in the morning, while I was walking in the park near Sector 9 market, two boys on a scooter snatched my gold chain (approx 2.5 lakh) and fled towards the main road. The accused were two youths on a black scooter, one in a red helmet. PS Prashant Vihar, District North-West.",
  {"complainant": "Sunita Devi", "father_husband_name": "Rajesh Sharma", "address": "Flat 12, Shivaji Apartments, Sector 9, Rohini, Delhi", "mobile": "9811023456", "occ_date": "2024-03-03", "occ_time": "07:00", "place_of_occurrence": "the park near Sector 9 market", "offence": "chain_snatching", "property_value_rs": 250000, "accused_desc": "two youths on a black scooter, one in a red helmet", "ps": "Prashant Vihar", "district": "North-West"}),
 ("fir", "Informant Mohammed Irfan (38), son of Abdul Rashid, of 7/112 Civil Lines, Bareilly, reports that on the 5th of May 2024, while the family was away at a wedding in Lucknow, unknown persons broke the lock of his house and stole cash of Rs 40,000 and jewellery worth Rs 1,10,000, in all Rs. 1,50,000. Police Station Baradari, District Bareilly.",
  {"complainant": "Mohammed Irfan", "father_husband_name": "Abdul Rashid", "address": "7/112 Civil Lines, Bareilly", "occ_date": "2024-05-05", "offence": "burglary", "property_value_rs": 150000, "accused_known": False, "ps": "Baradari", "district": "Bareilly"}),
 ("fir", "My name is Anjali Menon, daughter of K. Gopinath Menon. I live at 22B, Palm Grove Road, Ernakulam. On 2024-06-12 at 15:45 I got a call from a man claiming to be from my bank who asked for the OTP; within minutes ₹45,000 was debited from my account. Accused: unknown caller who spoke Hindi and called himself Rahul. I am filing this at Kadavanthra police station, Ernakulam district. Phone: 9847001122.",
  {"complainant": "Anjali Menon", "father_husband_name": "K. Gopinath Menon", "address": "22B, Palm Grove Road, Ernakulam", "occ_date": "2024-06-12", "occ_time": "15:45", "offence": "cheating", "property_value_rs": 45000, "accused_desc": "unknown caller who spoke Hindi and called himself Rahul", "accused_known": False, "ps": "Kadavanthra", "district": "Ernakulam", "mobile": "9847001122"}),
 ("fir", "Complaint by S. Karthik, s/o Subramanian, 14 Anna Street, Tambaram, Chennai. On the 2nd of February 2024 at around 10.15 pm my neighbour Murugan (about 45, heavy build) hit me with an iron rod outside my house after an argument about parking. I got 6 stitches on my head. Station: Tambaram; district Chengalpattu. Cell 9600123456.",
  {"complainant": "S. Karthik", "father_husband_name": "Subramanian", "address": "14 Anna Street, Tambaram, Chennai", "occ_date": "2024-02-02", "occ_time": "22:15", "offence": "assault", "accused_known": True, "accused_desc": "my neighbour Murugan (about 45, heavy build)", "ps": "Tambaram", "district": "Chengalpattu", "mobile": "9600123456"}),
 ("fir", "Shri Harpreet Singh, aged 52, S/o late Gurdev Singh, resident of village Kheri, Tehsil Rajpura, reported at PS Rajpura City (District Patiala) that his son Manpreet, 19, left home on 21 August 2024 at 8 am for college in Patiala and has not returned. He was wearing a blue turban and a white shirt. No ransom call has been received.",
  {"complainant": "Harpreet Singh", "father_husband_name": "Gurdev Singh", "address": "village Kheri, Tehsil Rajpura", "ps": "Rajpura City", "district": "Patiala", "occ_date": "2024-08-21", "occ_time": "08:00", "offence": "missing_person"}),
 ("fir", "I am Vikram Patil, son of Dattatray Patil, 301 Sai Darshan, Andheri East, Mumbai 400069. I was returning from work by auto. On 9/11/2024 at 23:40, at the Saki Naka metro station junction, three men stopped the auto, threatened me with a knife and took my phone (worth ₹32,000) and my wallet with Rs 3,000 cash. Total loss ₹35,000. The auto number was MH02 AB 7788. Accused: three men in their twenties, one with a scar on his left cheek. PS: Saki Naka, District: Mumbai Suburban.",
  {"complainant": "Vikram Patil", "father_husband_name": "Dattatray Patil", "address": "301 Sai Darshan, Andheri East, Mumbai 400069", "occ_date": "2024-11-09", "occ_time": "23:40", "place_of_occurrence": "Saki Naka metro station junction", "offence": "robbery", "property_value_rs": 35000, "accused_desc": "three men in their twenties, one with a scar on his left cheek", "ps": "Saki Naka", "district": "Mumbai Suburban"}),
 ("fir", "Lost/stolen mobile. Name - Priya Chatterjee, D/o Amit Chatterjee. Address: 18/3 Lake Gardens, Kolkata 700045. My Samsung phone was stolen from my bag on bus route 12C near Gariahat on 2024-01-19, some time in the afternoon. IMEI 356789104567893. Value Rs. 18,500. I don't know who took it. PS Gariahat, District Kolkata.",
  {"complainant": "Priya Chatterjee", "father_husband_name": "Amit Chatterjee", "address": "18/3 Lake Gardens, Kolkata 700045", "place_of_occurrence": "bus route 12C near Gariahat", "occ_date": "2024-01-19", "offence": "theft", "property_value_rs": 18500, "accused_known": False, "ps": "Gariahat", "district": "Kolkata"}),
 ("fir", "FIR request: complainant Lakshmi Reddy w/o Srinivas Reddy, Plot 56, Madhapur, Hyderabad. Since January my former business partner Naveen Rao has been threatening to kill me if I do not withdraw the civil case. On 28 March 2024 at 19:00 he came to my office at Cyber Towers, Hitech City and shouted threats in front of 12 staff. P.S. Madhapur, Cyberabad district. 9000012345",
  {"complainant": "Lakshmi Reddy", "father_husband_name": "Srinivas Reddy", "address": "Plot 56, Madhapur, Hyderabad", "occ_date": "2024-03-28", "occ_time": "19:00", "place_of_occurrence": "Cyber Towers, Hitech City", "offence": "criminal_intimidation", "accused_known": True, "accused_desc": "my former business partner Naveen Rao", "ps": "Madhapur", "district": "Cyberabad", "mobile": "9000012345"}),
 ("fir", "Car stolen. Owner/complainant: Deepak Shetty, father's name: Ramanath Shetty. Address: No. 9, 4th Cross, Jayanagar 4th Block, Bengaluru. My white Maruti Swift KA05MN2231, parked outside my house, was taken on 11.07.2024 at about 2 a.m.; the neighbour's CCTV shows two men in hoodies. Car value around 5.5 lakh. Jayanagar PS, Bengaluru South district.",
  {"complainant": "Deepak Shetty", "father_husband_name": "Ramanath Shetty", "address": "No. 9, 4th Cross, Jayanagar 4th Block, Bengaluru", "occ_date": "2024-07-11", "occ_time": "02:00", "offence": "vehicle_theft", "property_value_rs": 550000, "accused_desc": "two men in hoodies", "ps": "Jayanagar", "district": "Bengaluru South"}),
 ("fir", "I, Gita Ben Patel, wife of Hasmukh Patel, residing at 12 Shreeji Society, Anand, state that on 1 Oct 2024 between 1 and 2 pm our helper Dinesh, who had worked for us for 6 months, took Rs. 28,750 from the cash box of our shop, Patel Kirana Stores, Station Road, Anand, and ran away. Accused: Dinesh, about 22, thin, speaks Marathi. Please register the FIR at Anand Town PS, District Anand. Mobile: 98250 44321.",
  {"complainant": "Gita Ben Patel", "father_husband_name": "Hasmukh Patel", "address": "12 Shreeji Society, Anand", "occ_date": "2024-10-01", "place_of_occurrence": "Patel Kirana Stores, Station Road, Anand", "offence": "theft", "property_value_rs": 28750, "accused_known": True, "accused_desc": "Dinesh, about 22, thin, speaks Marathi", "ps": "Anand Town", "district": "Anand", "mobile": "9825044321"}),
 ("fir", "Complainant Arjun Nair (M, 29), Kochi. Mobile 8089123456. 14-08-2024, 21:05 hrs, Marine Drive walkway: two men on a bike showed a knife and took my bag. Bag had a laptop ₹72,000 and cash ₹1,500, total ₹73,500. Registration of the bike partly seen: KL07. PS Central, District Ernakulam.",
  {"complainant": "Arjun Nair", "mobile": "8089123456", "occ_date": "2024-08-14", "occ_time": "21:05", "place_of_occurrence": "Marine Drive walkway", "offence": "robbery", "property_value_rs": 73500, "ps": "Central", "district": "Ernakulam"}),
 ("fir", "To SHO Sadar Bazar. Complainant: Farhan Qureshi, son of Iqbal Qureshi, R/o 3rd floor, 88 Sadar Bazar, Agra. On the night of March 2nd, 2024 someone broke open the shutter of my godown at Plot 17, Transport Nagar, Agra; I found it at 6:30 in the morning on March 3rd. Nothing valuable appears to have been taken, we are still counting stock. I do not suspect anyone. District Agra.",
  {"complainant": "Farhan Qureshi", "father_husband_name": "Iqbal Qureshi", "address": "3rd floor, 88 Sadar Bazar, Agra", "ps": "Sadar Bazar", "occ_date": "2024-03-02", "place_of_occurrence": "Plot 17, Transport Nagar, Agra", "offence": "burglary", "accused_known": False, "district": "Agra"}),

 # --- clinic intake -------------------------------------------------------------------
 ("clinic_intake", "Pt: Rahul Verma, 42-year-old man, c/o fever and dry cough x 3 days. Temp 101.2 F, BP 130/85, pulse 96. Has insurance via employer.",
  {"patientName": "Rahul Verma", "age": 42, "sex": "M", "symptoms": ["fever", "cough"], "durationDays": 3, "temperature": 101.2, "tempUnit": "F", "insured": True}),
 ("clinic_intake", "Meera Iyer (F, 28) presents with headache and dizziness since 2 days, vomited once this morning. Allergic to sulfa drugs. T 37.8°C. Self-pay, no insurance.",
  {"patientName": "Meera Iyer", "age": 28, "sex": "F", "symptoms": ["headache", "dizziness", "vomiting"], "durationDays": 2, "allergies": ["sulfa drugs"], "temperature": 37.8, "tempUnit": "C", "insured": False}),
 ("clinic_intake", "I'm bringing my son Aarav Singh, he's 7. He's had a rash on his arms and a mild fever for about a week. His temperature this morning was 38.1 C. He's allergic to peanuts and eggs. We're covered under the family health policy.",
  {"patientName": "Aarav Singh", "age": 7, "sex": "M", "symptoms": ["rash", "fever"], "durationDays": 7, "allergies": ["peanuts", "eggs"], "temperature": 38.1, "tempUnit": "C", "insured": True}),
 ("clinic_intake", "Name: Fatima Sheikh. Age: 65. Sex: Female. Complaints: breathlessness on exertion, cough with sputum, 10 days. Temp: 98.6 °F. Allergies: penicillin. Insurance: none.",
  {"patientName": "Fatima Sheikh", "age": 65, "sex": "F", "symptoms": ["breathlessness", "cough"], "durationDays": 10, "allergies": ["penicillin"], "temperature": 98.6, "tempUnit": "F", "insured": False}),
 ("clinic_intake", "(M, 40) Sanjay Gupta, c/o loose motions and vomiting since yesterday, 6 episodes. Afebrile (97.9F). Insured - Star Health.",
  {"patientName": "Sanjay Gupta", "age": 40, "sex": "M", "symptoms": ["diarrhoea", "vomiting"], "durationDays": 1, "temperature": 97.9, "tempUnit": "F", "insured": True}),
 ("clinic_intake", "Walk-in: Ms. Olivia D'Souza, 33 yrs, sore throat and body aches for 4 days, no fever, no cough. Temp 36.9 C. Allergy: latex. She says she is uninsured.",
  {"patientName": "Olivia D'Souza", "age": 33, "sex": "F", "symptoms": ["sore throat", "body ache"], "durationDays": 4, "allergies": ["latex"], "temperature": 36.9, "tempUnit": "C", "insured": False}),
 ("clinic_intake", "Patient is a 3-year-old girl, Zara Khan, brought by her mother; fever up to 39.5°C for 2 days with one episode of vomiting. Weight 14 kg. Insured.",
  {"patientName": "Zara Khan", "age": 3, "sex": "F", "symptoms": ["fever", "vomiting"], "durationDays": 2, "temperature": 39.5, "tempUnit": "C", "insured": True}),
 ("clinic_intake", "Hello, I'm Kwame Mensah, 51, male. I have had a headache for three weeks and some dizziness when I stand up. No fever. I don't have health insurance. I'm allergic to aspirin.",
  {"patientName": "Kwame Mensah", "age": 51, "sex": "M", "symptoms": ["headache", "dizziness"], "durationDays": 21, "allergies": ["aspirin"], "insured": False}),
 ("clinic_intake", "Intake 09:40, Ravi Teja, 19M, fever 102 F, body ache, headache x 5/7. Insurance: yes (college plan).",
  {"patientName": "Ravi Teja", "age": 19, "sex": "M", "symptoms": ["fever", "body ache", "headache"], "durationDays": 5, "temperature": 102, "tempUnit": "F", "insured": True}),
 ("clinic_intake", "Sam Taylor, 30, identifies as non-binary (sex recorded as other). Presenting with a cough and sore throat for a fortnight. Temperature 37.2 C. Allergic to ibuprofen. Covered by insurance.",
  {"patientName": "Sam Taylor", "age": 30, "sex": "Other", "symptoms": ["cough", "sore throat"], "durationDays": 14, "allergies": ["ibuprofen"], "temperature": 37.2, "tempUnit": "C", "insured": True}),
 ("clinic_intake", "Elderly gentleman, Mr. Gopal Rao, aged 78, came with his daughter (she is 45). Complains of breathlessness and dizziness since this morning. Temp normal at 98.4F. He has no insurance cover.",
  {"patientName": "Gopal Rao", "age": 78, "sex": "M", "symptoms": ["breathlessness", "dizziness"], "temperature": 98.4, "tempUnit": "F", "insured": False}),
 ("clinic_intake", "Pt Lakshmi Narayan (F/56): diarrhoea and vomiting x2 days after eating out, mild fever 37.9. Allergic to shellfish. Insured: no.",
  {"patientName": "Lakshmi Narayan", "age": 56, "sex": "F", "symptoms": ["diarrhoea", "vomiting", "fever"], "durationDays": 2, "allergies": ["shellfish"], "temperature": 37.9, "tempUnit": "C", "insured": False}),
 ("clinic_intake", "Father reports that his 12-year-old boy Kabir Joshi has had a dry cough for 6 days and a headache since yesterday. Temperature 99.1 °F at home. No rash. Allergic to dust mites. They have insurance through the father's company.",
  {"patientName": "Kabir Joshi", "age": 12, "sex": "M", "symptoms": ["cough", "headache"], "durationDays": 6, "allergies": ["dust mites"], "temperature": 99.1, "tempUnit": "F", "insured": True}),

 # --- insurance claim -----------------------------------------------------------------
 ("insurance_claim", "Policy No: HMC-482913. Insured: Nisha Kapoor. On 14/03/2024 a pipe burst in the kitchen and flooded my flat at Hiranandani Gardens, Powai, Mumbai; the sofa, carpets and the TV were damaged. Estimated loss Rs. 1,25,000. No police report was needed. nisha.kapoor@example.in",
  {"policy_no": "HMC-482913", "insured_name": "Nisha Kapoor", "claim_type": "home", "date_of_loss": "2024-03-14", "loss_location": "Hiranandani Gardens, Powai, Mumbai", "loss_amt": 125000, "ccy": "INR", "fir_filed": False, "claimant_email": "nisha.kapoor@example.in"}),
 ("insurance_claim", "I'm claiming under my motor policy MTR-200415 for damage to my car. On 3 Mar 2024 a truck rear-ended me at Silk Board junction, Bengaluru. Repair estimate from the garage: ₹45,000. I filed an FIR at the local police station the same day. Arvind Rao",
  {"policy_no": "MTR-200415", "insured_name": "Arvind Rao", "claim_type": "motor", "date_of_loss": "2024-03-03", "loss_location": "Silk Board junction, Bengaluru", "loss_amt": 45000, "ccy": "INR", "fir_filed": True}),
 ("insurance_claim", "Claim for lost baggage on my trip to New York. Policy TRV-773201, holder: Emily Watson (emily.watson@mailbox.org). My suitcase never arrived at JFK on March 3rd, 2024. Contents valued at $3,200.50. I reported it to the airline, not the police.",
  {"policy_no": "TRV-773201", "insured_name": "Emily Watson", "claimant_email": "emily.watson@mailbox.org", "claim_type": "travel", "date_of_loss": "2024-03-03", "loss_location": "JFK", "loss_amt": 3200.5, "ccy": "USD", "fir_filed": False}),
 ("insurance_claim", "Hospitalisation claim: policy HLT-009876, insured person Manoj Tiwari. Admitted to Apollo Hospital, Chennai on 2024-03-03 for appendicitis surgery, discharged 2024-03-06. Total bill INR 2,85,400, of which 20,000 was paid as deposit.",
  {"policy_no": "HLT-009876", "insured_name": "Manoj Tiwari", "claim_type": "health", "date_of_loss": "2024-03-03", "loss_location": "Apollo Hospital, Chennai", "loss_amt": 285400, "ccy": "INR"}),
 ("insurance_claim", "Hallo, my dog Bruno swallowed a sock and needed an operation at the Tierklinik Hamburg on the 5th of May 2024. The vet bill was EUR 900. Pet policy PET-551020, name on the policy Jonas Becker.",
  {"policy_no": "PET-551020", "insured_name": "Jonas Becker", "claim_type": "pet", "date_of_loss": "2024-05-05", "loss_location": "Tierklinik Hamburg", "loss_amt": 900, "ccy": "EUR"}),
 ("insurance_claim", "I dropped my phone in the Thames near Tower Bridge on 2 June 2024. It was not stolen, so I haven't contacted the police. Gadget cover GDG-310987. Replacement cost £849. Claimant: Oliver Hughes, o.hughes@example.co.uk.",
  {"policy_no": "GDG-310987", "insured_name": "Oliver Hughes", "claimant_email": "o.hughes@example.co.uk", "claim_type": "gadget", "date_of_loss": "2024-06-02", "loss_location": "the Thames near Tower Bridge", "loss_amt": 849, "ccy": "GBP", "fir_filed": False}),
 ("insurance_claim", "Our house at 21 Park Street, Kolkata was burgled on the night of 11 August 2024 while we were away. Stolen: jewellery and a laptop. Total claimed Rs 3.2 lakh (the sum insured is 10 lakh). FIR No. 214/2024 lodged at Park Street PS. Policy HOM-660781, insured Sourav Ghosh.",
  {"policy_no": "HOM-660781", "insured_name": "Sourav Ghosh", "claim_type": "home", "date_of_loss": "2024-08-11", "loss_location": "21 Park Street, Kolkata", "loss_amt": 320000, "ccy": "INR", "fir_filed": True}),
 ("insurance_claim", "Marine cargo claim. Pol. no MAR-120034. 40 cartons of ceramic tiles damaged by seawater during shipment from Mundra to Jebel Ali, discovered on arrival 2024-09-18. Loss: USD 12k. Claimant contact: claims@shreeexports.in",
  {"policy_no": "MAR-120034", "claim_type": "marine", "date_of_loss": "2024-09-18", "loss_amt": 12000, "ccy": "USD", "claimant_email": "claims@shreeexports.in", "circumstances": "40 cartons of ceramic tiles damaged by seawater during shipment from Mundra to Jebel Ali"}),
 ("insurance_claim", "Accident on Sheikh Zayed Road, Dubai, on 7 January 2024: another car changed lanes into mine. Police report filed with Dubai Police (report no. 45512). Damage estimate AED 7,800. My policy is MTR-845612. Hassan Al Mansouri, hassan.m@example.ae",
  {"policy_no": "MTR-845612", "insured_name": "Hassan Al Mansouri", "claimant_email": "hassan.m@example.ae", "claim_type": "motor", "date_of_loss": "2024-01-07", "loss_location": "Sheikh Zayed Road, Dubai", "loss_amt": 7800, "ccy": "AED", "fir_filed": True, "circumstances": "another car changed lanes into mine"}),
 ("insurance_claim", "While on holiday in Singapore I fell ill and was treated at Raffles Hospital on 19/02/2024. Bill SGD 1,450. This is under my travel insurance TRV-402288, not my health plan. No police involvement. Name: Kavya Pillai.",
  {"policy_no": "TRV-402288", "insured_name": "Kavya Pillai", "claim_type": "travel", "date_of_loss": "2024-02-19", "loss_location": "Raffles Hospital", "loss_amt": 1450, "ccy": "SGD", "fir_filed": False}),
 ("insurance_claim", "I am writing to notify a claim on the life policy LIF-734001 of my late father, Mr. Prakash Deshmukh, who passed away on 2024-04-30 at Ruby Hall Clinic, Pune. The sum assured is ₹25,00,000. I am his nominee, Sneha Deshmukh, sneha.d@example.com.",
  {"policy_no": "LIF-734001", "insured_name": "Prakash Deshmukh", "claim_type": "life", "date_of_loss": "2024-04-30", "loss_location": "Ruby Hall Clinic, Pune", "loss_amt": 2500000, "ccy": "INR", "claimant_email": "sneha.d@example.com"}),
 ("insurance_claim", "Fire in the garage of 14 Elm Close, Reading on 2024-11-02 destroyed the lawnmower and tools. Cause: electrical fault, so no police report was filed. Loss approx £2,300. Policy no. HOM-118820. Insured: Mrs Helen Carter. Circumstances: an extension lead overheated while the freezer was running.",
  {"policy_no": "HOM-118820", "insured_name": "Helen Carter", "claim_type": "home", "date_of_loss": "2024-11-02", "loss_location": "14 Elm Close, Reading", "loss_amt": 2300, "ccy": "GBP", "fir_filed": False, "circumstances": "an extension lead overheated while the freezer was running"}),
 ("insurance_claim", "Bike theft claim. Policy number MTR-557300. My Royal Enfield was stolen from the basement parking of Prestige Towers, Whitefield on 28 Sept 2024. FIR lodged at Whitefield police station. Insured declared value Rs. 1,80,000 and I am claiming the full IDV. Owner: Rohit Bansal.",
  {"policy_no": "MTR-557300", "insured_name": "Rohit Bansal", "claim_type": "motor", "date_of_loss": "2024-09-28", "loss_location": "basement parking of Prestige Towers, Whitefield", "loss_amt": 180000, "ccy": "INR", "fir_filed": True}),

 # --- job application -----------------------------------------------------------------
 ("job_application", "Hi, I'm Priya Raman and I'd like to apply for the Data Analyst role. I have 4 years of experience with SQL and Tableau. Expected CTC: 12 LPA. Notice period is 60 days. I'm in Chennai and happy to relocate to Bengaluru. priya.raman@example.com / +91 98400 12345.",
  {"full_name": "Priya Raman", "position": "data analyst", "years_of_experience": 4, "expected_salary": 1200000, "salary_period": "per_annum", "notice_period_days": 60, "current_location": "Chennai", "willing_to_relocate": True, "email": "priya.raman@example.com", "phone": "+91 98400 12345"}),
 ("job_application", "Application: Backend Developer. Name: Tomasz Nowak. Experience: 7 yrs (Java, Go). Current salary EUR 8,500/month, expecting €10k per month. One month notice; I can start on 2024-03-04. Based in Kraków. tomasz.nowak@poczta.pl",
  {"full_name": "Tomasz Nowak", "position": "backend developer", "years_of_experience": 7, "expected_salary": 10000, "salary_period": "per_month", "notice_period_days": 30, "available_from": "2024-03-04", "current_location": "Kraków", "email": "tomasz.nowak@poczta.pl"}),
 ("job_application", "Dear hiring team, please consider me for the UX Designer opening. I'm Aiko Tanaka, based in Osaka, with 2.5 years in product design. I'm expecting around $85,000 a year. I can join from the 5th of May 2025 after a two-week notice. I'd prefer not to relocate. aiko.tanaka@example.jp",
  {"full_name": "Aiko Tanaka", "position": "ux designer", "current_location": "Osaka", "years_of_experience": 2.5, "expected_salary": 85000, "salary_period": "per_annum", "available_from": "2025-05-05", "notice_period_days": 14, "willing_to_relocate": False, "email": "aiko.tanaka@example.jp"}),
 ("job_application", "I am a fresher (0 years experience) applying for QA Engineer. Rahul Mehta, Pune. Immediate joiner. Expected salary ₹25,000 per month. Willing to move anywhere. 9823012345",
  {"full_name": "Rahul Mehta", "position": "qa engineer", "years_of_experience": 0, "current_location": "Pune", "notice_period_days": 0, "expected_salary": 25000, "salary_period": "per_month", "willing_to_relocate": True, "phone": "9823012345"}),
 ("job_application", "DevOps Engineer application from Chinedu Okeke (chinedu.okeke@example.ng, +234 803 555 0199). 6 years AWS/Kubernetes. Lagos-based. Notice: 90 days. Salary expectation: USD 4,500 monthly. Not open to relocation but fine with remote.",
  {"full_name": "Chinedu Okeke", "email": "chinedu.okeke@example.ng", "phone": "+234 803 555 0199", "position": "devops engineer", "years_of_experience": 6, "current_location": "Lagos", "notice_period_days": 90, "expected_salary": 4500, "salary_period": "per_month", "willing_to_relocate": False}),
 ("job_application", "Position: Product Manager. Candidate: Sofia Rossi. Email sofia.rossi@example.it. Current location Milan. Experience 9 years, of which 3 as a PM. Expected gross salary 70.000 EUR per year. Available from 2024-09-01. Notice period three months.",
  {"full_name": "Sofia Rossi", "position": "product manager", "email": "sofia.rossi@example.it", "current_location": "Milan", "years_of_experience": 9, "expected_salary": 70000, "salary_period": "per_annum", "available_from": "2024-09-01", "notice_period_days": 90}),
 ("job_application", "hey, saw the frontend dev posting (React). I'm Daniel Cohen, 3 yrs exp, in Tel Aviv, looking for 12k a month, can start 3 Mar 2025, notice 30 days. dan.cohen@example.co.il",
  {"full_name": "Daniel Cohen", "position": "frontend developer", "years_of_experience": 3, "current_location": "Tel Aviv", "expected_salary": 12000, "salary_period": "per_month", "available_from": "2025-03-03", "notice_period_days": 30, "email": "dan.cohen@example.co.il"}),
 ("job_application", "Data Scientist role: I'm Ananya Bose from Kolkata. MSc Statistics, 5 years in ML. My current CTC is 18 lakh; I'm expecting 24 lakh per annum. Notice period 45 days, negotiable. Ready to relocate to Hyderabad. ananya.bose@example.in",
  {"full_name": "Ananya Bose", "position": "data scientist", "current_location": "Kolkata", "years_of_experience": 5, "expected_salary": 2400000, "salary_period": "per_annum", "notice_period_days": 45, "willing_to_relocate": True, "email": "ananya.bose@example.in"}),
 ("job_application", "Applying for the backend developer vacancy. Name - Mohammed Al-Farsi. Phone +971 50 123 4567. 11 years of experience, currently in Dubai and not willing to relocate. Expected salary AED 35,000 per month. Can start on the 1st of June 2025.",
  {"full_name": "Mohammed Al-Farsi", "position": "backend developer", "phone": "+971 50 123 4567", "years_of_experience": 11, "current_location": "Dubai", "willing_to_relocate": False, "expected_salary": 35000, "salary_period": "per_month", "available_from": "2025-06-01"}),
 ("job_application", "Hello! I'd love to join as a QA engineer. I'm Grace Liu, 2 years testing experience plus a 6-month internship. Currently in Toronto; open to relocating. Expected: CAD 68k annually. Notice: 2 weeks. grace.liu@example.ca",
  {"full_name": "Grace Liu", "position": "qa engineer", "years_of_experience": 2, "current_location": "Toronto", "willing_to_relocate": True, "expected_salary": 68000, "salary_period": "per_annum", "notice_period_days": 14, "email": "grace.liu@example.ca"}),
 ("job_application", "Cover note: I, Suresh Babu, apply for the post of Data Analyst. I have eight years of experience in banking MIS. Present location: Kochi. Expected salary Rs. 75,000 p.m. My notice period is 1 month; I can join by 14/03/2025. Mobile: 9446012345. Willing to relocate: No.",
  {"full_name": "Suresh Babu", "position": "data analyst", "years_of_experience": 8, "current_location": "Kochi", "expected_salary": 75000, "salary_period": "per_month", "notice_period_days": 30, "available_from": "2025-03-14", "phone": "9446012345", "willing_to_relocate": False}),
 ("job_application", "Hi, Lukas Schneider here, applying for DevOps. 4 yrs. Berlin. Salary expectation 65,000 € p.a. Earliest start 2024-11-15. lukas.schneider@example.de",
  {"full_name": "Lukas Schneider", "position": "devops engineer", "years_of_experience": 4, "current_location": "Berlin", "expected_salary": 65000, "salary_period": "per_annum", "available_from": "2024-11-15", "email": "lukas.schneider@example.de"}),
 ("job_application", "I'm applying for the UX designer job, though I also have frontend experience. Name: Isabela Santos, São Paulo. 6 years of UX, 2 of them freelance. Expected R$ 15.000 per month. I would relocate for the right role. Start date: March 3rd, 2025. isabela.santos@example.com.br",
  {"full_name": "Isabela Santos", "position": "ux designer", "current_location": "São Paulo", "years_of_experience": 6, "expected_salary": 15000, "salary_period": "per_month", "willing_to_relocate": True, "available_from": "2025-03-03", "email": "isabela.santos@example.com.br"}),

 # --- vehicle service booking ---------------------------------------------------------
 ("vehicle_service", "Need periodic service for my Maruti Swift MH12AB1234, odometer 45,200 km. Preferred date 14/03/2024. Please arrange pick-up and drop. Owner: Sachin Kulkarni, 9822012345. Also AC is not cooling well.",
  {"reg_no": "MH12AB1234", "make": "maruti", "model": "Swift", "odo_km": 45200, "svc": "periodic_service", "pref_date": "2024-03-14", "pickup": True, "owner": "Sachin Kulkarni", "mob": "9822012345", "complaints": "AC is not cooling well"}),
 ("vehicle_service", "Hyundai Creta, reg no. DL 03 CA 4455, front bumper damaged in a minor accident last week. Want accident repair at your Okhla workshop on 3 Mar 2024. I will drop the car myself. Neha Arora, 98100 55667",
  {"reg_no": "DL03CA4455", "make": "hyundai", "model": "Creta", "svc": "accident_repair", "pref_date": "2024-03-03", "service_centre": "Okhla", "pickup": False, "owner": "Neha Arora", "mob": "98100 55667", "complaints": "front bumper damaged in a minor accident last week"}),
 ("vehicle_service", "Booking for Tata Nexon EV KA03MX9087: tyre wear uneven, need wheel alignment and balancing. Around 28k km done. Any slot on 2024-04-20 at the Whitefield centre. Pick-up not needed.",
  {"reg_no": "KA03MX9087", "make": "tata", "model": "Nexon EV", "svc": "tyres_alignment", "odo_km": 28000, "pref_date": "2024-04-20", "service_centre": "Whitefield", "pickup": False, "complaints": "tyre wear uneven"}),
 ("vehicle_service", "Battery dead again! Honda City TN09BY3321, owner Lakshmi Priya. Car won't start; please send someone to pick it up. Odometer approx 61,000. Phone 9884012345.",
  {"reg_no": "TN09BY3321", "make": "honda", "model": "City", "owner": "Lakshmi Priya", "svc": "battery", "pickup": True, "odo_km": 61000, "mob": "9884012345", "complaints": "Car won't start"}),
 ("vehicle_service", "Hi, this is Arjun Mehta. My Mahindra XUV700 (GJ01KL5566) is due for its 20,000 km service; current reading 19,850 km. I'd like to come on the 5th of May 2024 to the Satellite Road service centre. I don't need pickup.",
  {"owner": "Arjun Mehta", "make": "mahindra", "model": "XUV700", "reg_no": "GJ01KL5566", "svc": "periodic_service", "odo_km": 19850, "pref_date": "2024-05-05", "service_centre": "Satellite Road", "pickup": False}),
 ("vehicle_service", "AC service + gas top-up for Kia Seltos, RJ14 CT 7070. Cooling is weak and there's a bad smell from the vents. Prefer Saturday 2024-06-15. Please pick up from Malviya Nagar. Owner Vikas Jain.",
  {"make": "kia", "model": "Seltos", "reg_no": "RJ14CT7070", "svc": "ac_service", "complaints": "Cooling is weak and there's a bad smell from the vents", "pref_date": "2024-06-15", "pickup": True, "owner": "Vikas Jain"}),
 ("vehicle_service", "Toyota Innova Crysta UP32 HN 2020, 1,12,500 km on the clock. Noise from the front suspension when going over bumps. Need general repair. Date: 2 July 2024. Owner: Rakesh Srivastava, mob 9415098765. Drop at Gomti Nagar workshop, no pickup.",
  {"make": "toyota", "model": "Innova Crysta", "reg_no": "UP32HN2020", "odo_km": 112500, "complaints": "Noise from the front suspension when going over bumps", "svc": "general_repair", "pref_date": "2024-07-02", "owner": "Rakesh Srivastava", "mob": "9415098765", "service_centre": "Gomti Nagar", "pickup": False}),
 ("vehicle_service", "Please book a full wash and interior cleaning for my car MH04GH8899 on 2024-08-10. It's a Renault Kwid. No other work needed. Thanks, Farah",
  {"reg_no": "MH04GH8899", "svc": "washing", "pref_date": "2024-08-10", "make": "other", "model": "Kwid", "owner": "Farah"}),
 ("vehicle_service", "Periodic maintenance due. Vehicle: Maruti Baleno, Regn KL 07 CD 1234, ODO 9,870 km (first free service). Owner: Thomas Kurian. Preferred: 19/09/2024 at Edappally. Pickup & drop please.",
  {"svc": "periodic_service", "make": "maruti", "model": "Baleno", "reg_no": "KL07CD1234", "odo_km": 9870, "owner": "Thomas Kurian", "pref_date": "2024-09-19", "service_centre": "Edappally", "pickup": True}),
 ("vehicle_service", "My Hyundai i20 (TS08EZ4567) got hit by an auto yesterday: left door dented and mirror broken. Insurance claim will be filed. I need accident repair, and I'm not able to bring it in, please pick it up. Mileage about 33k km. Kiran Reddy, 9949012345.",
  {"make": "hyundai", "model": "i20", "reg_no": "TS08EZ4567", "complaints": "left door dented and mirror broken", "svc": "accident_repair", "pickup": True, "odo_km": 33000, "owner": "Kiran Reddy", "mob": "9949012345"}),
 ("vehicle_service", "Hello, the battery warning light came on in my Tata Punch. Registration: WB02AK3456. Could you check the battery on 3 Oct 2024? I'll bring it to the Salt Lake centre myself. Odometer 15,400 km. Name: Debjani Sen.",
  {"make": "tata", "model": "Punch", "complaints": "the battery warning light came on", "reg_no": "WB02AK3456", "svc": "battery", "pref_date": "2024-10-03", "service_centre": "Salt Lake", "pickup": False, "odo_km": 15400, "owner": "Debjani Sen"}),
 ("vehicle_service", "Sir, Honda Amaze, PB10 FG 1122. 2 new tyres + alignment. Front tyres are bald. Odo 54321. Date the 12th of November 2024. Owner Gurpreet Kaur 98140 11223. Pickup needed from Sarabha Nagar.",
  {"make": "honda", "model": "Amaze", "reg_no": "PB10FG1122", "svc": "tyres_alignment", "complaints": "Front tyres are bald", "odo_km": 54321, "pref_date": "2024-11-12", "owner": "Gurpreet Kaur", "mob": "98140 11223", "pickup": True}),
 ("vehicle_service", "General checkup and repair needed: clutch is hard and there is a burning smell. Mahindra Scorpio, MP09 CX 7788, about 88,000 km. Any day in the week of 2024-12-02 works, but 2024-12-04 is best. Owner: Anil Sharma. I'll drive it to the Vijay Nagar centre myself.",
  {"svc": "general_repair", "complaints": "clutch is hard and there is a burning smell", "make": "mahindra", "model": "Scorpio", "reg_no": "MP09CX7788", "odo_km": 88000, "pref_date": "2024-12-04", "owner": "Anil Sharma", "service_centre": "Vijay Nagar", "pickup": False}),

 # --- tenancy repair / maintenance request --------------------------------------------
 ("maintenance_request", "Hi, this is Emma Clarke in flat 4B, 27 Elm Road, London SW1A 1AA. The kitchen tap has been leaking since 14/03/2024 and now water is dripping into the cupboard below. It's not an emergency, but please fix it within the next few days. You can let yourselves in if I'm out. emma.clarke@example.co.uk",
  {"tenantName": "Emma Clarke", "unitNo": "4B", "propertyAddress": "27 Elm Road, London", "postcode": "SW1A 1AA", "category": "plumbing", "priority": "urgent", "noticedOn": "2024-03-14", "accessPermission": True, "contactEmail": "emma.clarke@example.co.uk"}),
 ("maintenance_request", "EMERGENCY: no power in the whole flat and there's a burning smell from the fuse box! Flat 12, Riverside Court, Manchester M1 5AN. Tenant: Joseph Okoro. I have a dog, so please ring before coming in.",
  {"category": "electrical", "priority": "emergency", "unitNo": "12", "propertyAddress": "Riverside Court, Manchester", "postcode": "M1 5AN", "tenantName": "Joseph Okoro", "petsOnSite": True, "accessPermission": False}),
 ("maintenance_request", "The boiler stopped working on 3 Mar 2024 and there's no heating or hot water. We have a 2-month-old baby, please treat as urgent. Unit 7, 15 Station Street, Leeds LS1 4DY. Name: Aisha Rahman, aisha.r@example.com. No pets.",
  {"category": "heating", "noticedOn": "2024-03-03", "priority": "urgent", "unitNo": "7", "propertyAddress": "15 Station Street, Leeds", "postcode": "LS1 4DY", "tenantName": "Aisha Rahman", "contactEmail": "aisha.r@example.com", "petsOnSite": False}),
 ("maintenance_request", "Mice in the kitchen: we've seen droppings behind the fridge since about 2024-02-10. A routine visit is fine. Flat 2A, 9 Queen's Road, Bristol BS8 1QU. Tenant Tom Harris. Two cats live here (they're useless at catching them!). You may enter with your key.",
  {"category": "pest_control", "noticedOn": "2024-02-10", "priority": "routine", "unitNo": "2A", "propertyAddress": "9 Queen's Road, Bristol", "postcode": "BS8 1QU", "tenantName": "Tom Harris", "petsOnSite": True, "accessPermission": True}),
 ("maintenance_request", "Front door lock is broken after an attempted break-in last night (5 June 2024) and we can't lock the flat. Police have been informed. Flat 9, 40 Market Street, Edinburgh EH1 1DF. Please come today. Callum Fraser",
  {"category": "locks_security", "priority": "emergency", "noticedOn": "2024-06-05", "unitNo": "9", "propertyAddress": "40 Market Street, Edinburgh", "postcode": "EH1 1DF", "tenantName": "Callum Fraser", "details": "Front door lock is broken after an attempted break-in last night"}),
 ("maintenance_request", "Black mould is spreading on the bedroom ceiling and around the window frames. I first noticed it on the 5th of May 2024. It's not urgent but it's getting worse. Unit 3C, 88 Victoria Avenue, Glasgow G12 8QQ. Priya Shah (priya.shah@example.com). No pets; access is fine when I'm at work.",
  {"category": "damp_mould", "noticedOn": "2024-05-05", "priority": "routine", "unitNo": "3C", "propertyAddress": "88 Victoria Avenue, Glasgow", "postcode": "G12 8QQ", "tenantName": "Priya Shah", "contactEmail": "priya.shah@example.com", "petsOnSite": False, "accessPermission": True, "details": "Black mould is spreading on the bedroom ceiling and around the window frames"}),
 ("maintenance_request", "The washing machine provided with the flat won't drain and shows error E21. Routine please. Tenant: Kasia Nowak, flat 11, 5 Park Lane, Cardiff CF10 1AB. I'd rather be home when the engineer comes.",
  {"category": "appliance", "details": "The washing machine provided with the flat won't drain and shows error E21", "priority": "routine", "tenantName": "Kasia Nowak", "unitNo": "11", "propertyAddress": "5 Park Lane, Cardiff", "postcode": "CF10 1AB", "accessPermission": False}),
 ("maintenance_request", "There's a large crack in the wall above the living-room window that has got wider over the last month; some plaster fell on 2024-09-01. Could someone look at it in the next few days? 19 Church Street, York YO1 7HH, ground floor flat (unit G1). Daniel Brooks, dan.brooks@example.org",
  {"category": "structural", "details": "a large crack in the wall above the living-room window", "noticedOn": "2024-09-01", "priority": "urgent", "propertyAddress": "19 Church Street, York", "postcode": "YO1 7HH", "unitNo": "G1", "tenantName": "Daniel Brooks", "contactEmail": "dan.brooks@example.org"}),
 ("maintenance_request", "Toilet is blocked and overflowing, water is coming through the ceiling of the flat below! Flat 6, 3 High Street, Oxford OX1 4AA. Mohammed Ali. Please send a plumber now. I have no pets.",
  {"category": "plumbing", "priority": "emergency", "unitNo": "6", "propertyAddress": "3 High Street, Oxford", "postcode": "OX1 4AA", "tenantName": "Mohammed Ali", "petsOnSite": False, "details": "Toilet is blocked and overflowing"}),
 ("maintenance_request", "Hi, the radiator in the second bedroom is cold even after bleeding it. The rest of the heating works fine. Not urgent. Flat 21B, 60 Deansgate, Manchester M3 2BW. Sophie Turner, sophie.t@example.com. The key is with the concierge, feel free to go in.",
  {"category": "heating", "details": "the radiator in the second bedroom is cold even after bleeding it", "priority": "routine", "unitNo": "21B", "propertyAddress": "60 Deansgate, Manchester", "postcode": "M3 2BW", "tenantName": "Sophie Turner", "contactEmail": "sophie.t@example.com", "accessPermission": True}),
 ("maintenance_request", "Electrical: two sockets in the kitchen stopped working on 2 Oct 2024 (the breaker trips when I reset it). Within a couple of days would be great. Oliver Bennett, unit 5, 12 Mill Lane, Cambridge CB2 1RX. We have a rabbit in a cage in the lounge.",
  {"category": "electrical", "noticedOn": "2024-10-02", "priority": "urgent", "tenantName": "Oliver Bennett", "unitNo": "5", "propertyAddress": "12 Mill Lane, Cambridge", "postcode": "CB2 1RX", "petsOnSite": True, "details": "two sockets in the kitchen stopped working"}),
 ("maintenance_request", "Fridge-freezer not cooling, food is going off. I noticed it this morning, 2024-11-18. Please come within 48 hours. Flat 8, 14 Abbey Road, London NW8 9AY. Lucy Evans. Access permitted if I'm out.",
  {"category": "appliance", "details": "Fridge-freezer not cooling, food is going off", "noticedOn": "2024-11-18", "priority": "urgent", "unitNo": "8", "propertyAddress": "14 Abbey Road, London", "postcode": "NW8 9AY", "tenantName": "Lucy Evans", "accessPermission": True}),
 ("maintenance_request", "Wasps' nest under the roof tiles above the back bedroom window; the kids are scared to open it. Not an emergency, but a visit this week would be good. 31 Rose Crescent, Bath BA1 2QQ (whole house, no unit number). Tenant: Hannah Price. Dog on site, please don't let him out.",
  {"category": "pest_control", "details": "Wasps' nest under the roof tiles above the back bedroom window", "priority": "urgent", "propertyAddress": "31 Rose Crescent, Bath", "postcode": "BA1 2QQ", "tenantName": "Hannah Price", "petsOnSite": True}),

 # --- veterinary appointment ----------------------------------------------------------
 ("vet_visit", "Hi, I'd like to book Max, my 3-year-old Labrador, for his annual vaccinations on 14/03/2024. He weighs about 32 kg and is neutered. Owner: Rachel Adams.",
  {"pet_name": "Max", "species": "dog", "age_years": 3, "reason": "vaccination", "appt_date": "2024-03-14", "weight_kg": 32, "neutered": True, "owner_name": "Rachel Adams"}),
 ("vet_visit", "My cat Luna (female, 8 years, 4.2 kg) has been vomiting and not eating since yesterday. Can we come in today, 3 Mar 2024? She's spayed and her vaccinations are up to date. Microchip 985112003456789. Daniel Morgan",
  {"pet_name": "Luna", "species": "cat", "age_years": 8, "weight_kg": 4.2, "reason": "illness", "notes": "vomiting and not eating since yesterday", "appt_date": "2024-03-03", "neutered": True, "vaccinated": True, "microchip_no": "985112003456789", "owner_name": "Daniel Morgan"}),
 ("vet_visit", "Rabbit appointment: Thumper, 2 years, 1.8 kg. His teeth look overgrown and he's drooling. Owner Sana Iqbal. Not neutered. Preferred date 2024-04-22.",
  {"species": "rabbit", "pet_name": "Thumper", "age_years": 2, "weight_kg": 1.8, "reason": "dental", "notes": "His teeth look overgrown and he's drooling", "owner_name": "Sana Iqbal", "neutered": False, "appt_date": "2024-04-22"}),
 ("vet_visit", "Bella (German Shepherd, 6 yrs, 38 kg) cut her paw on broken glass during a walk and it's bleeding a lot. Owner: Marco Bianchi. She's not spayed. Her vaccinations have been overdue since last year.",
  {"pet_name": "Bella", "species": "dog", "age_years": 6, "weight_kg": 38, "reason": "injury", "notes": "cut her paw on broken glass during a walk", "owner_name": "Marco Bianchi", "neutered": False, "vaccinated": False}),
 ("vet_visit", "Post-op review for Oscar, our 10-year-old tomcat, 10 days after his dental extraction. Appointment on the 5th of May 2024 please. He's 5.6 kilos now, down from 6.1. Neutered, vaccinated. Owner Fiona Walsh.",
  {"reason": "post_op_review", "pet_name": "Oscar", "age_years": 10, "species": "cat", "appt_date": "2024-05-05", "weight_kg": 5.6, "neutered": True, "vaccinated": True, "owner_name": "Fiona Walsh"}),
 ("vet_visit", "Kiwi, a budgie (about 1.5 years, 35 g), has fluffed feathers and sits at the bottom of the cage. Owner: Hiro Sato. Could we see someone on 2024-06-03?",
  {"pet_name": "Kiwi", "species": "bird", "age_years": 1.5, "weight_kg": 0.035, "reason": "illness", "notes": "has fluffed feathers and sits at the bottom of the cage", "owner_name": "Hiro Sato", "appt_date": "2024-06-03"}),
 ("vet_visit", "Annual health check for Rocky (Beagle, 5 years). He weighs 14 kg. Vaccines up to date; neutered. Owner: Ayesha Khan, booking for 2 July 2024. Microchip: 900 164 000 123 456.",
  {"reason": "annual_checkup", "pet_name": "Rocky", "species": "dog", "age_years": 5, "weight_kg": 14, "vaccinated": True, "neutered": True, "owner_name": "Ayesha Khan", "appt_date": "2024-07-02", "microchip_no": "900164000123456"}),
 ("vet_visit", "Our guinea pig Pepper has a swollen eye, we think it's an infection. She is 3, about 900 grams. Owner: Liam O'Connor. Not vaccinated. Visit 19/08/2024.",
  {"species": "guinea_pig", "pet_name": "Pepper", "notes": "has a swollen eye, we think it's an infection", "reason": "illness", "age_years": 3, "weight_kg": 0.9, "owner_name": "Liam O'Connor", "vaccinated": False, "appt_date": "2024-08-19"}),
 ("vet_visit", "Grooming + nail trim for Coco, 4-year-old Shih Tzu, 6.5 kg. She's spayed. Appointment 2024-09-07. Owner: Meenal Shah.",
  {"reason": "grooming", "pet_name": "Coco", "age_years": 4, "species": "dog", "weight_kg": 6.5, "neutered": True, "appt_date": "2024-09-07", "owner_name": "Meenal Shah"}),
 ("vet_visit", "Leo the bearded dragon (7 years) hasn't eaten in two weeks and seems lethargic. Owner Jake Turner. Weight 420 g. Appointment on 1 Oct 2024 if possible.",
  {"pet_name": "Leo", "species": "reptile", "age_years": 7, "reason": "illness", "notes": "hasn't eaten in two weeks and seems lethargic", "owner_name": "Jake Turner", "weight_kg": 0.42, "appt_date": "2024-10-01"}),
 ("vet_visit", "Booking puppy vaccinations for Simba, a 10-week-old golden retriever, 3.1 kg. First jab was done at the breeder, the second is due now. Owner: Nikhil Rao. Date: 2024-11-11. Microchip 941000024681357.",
  {"reason": "vaccination", "pet_name": "Simba", "species": "dog", "weight_kg": 3.1, "owner_name": "Nikhil Rao", "appt_date": "2024-11-11", "microchip_no": "941000024681357"}),
 ("vet_visit", "Milo (cat, 12, 3.9 kg) was hit by a bike and is limping on his back left leg. Not neutered. Owner Clara Schmidt. We need the earliest appointment you have.",
  {"pet_name": "Milo", "species": "cat", "age_years": 12, "weight_kg": 3.9, "reason": "injury", "notes": "was hit by a bike and is limping on his back left leg", "neutered": False, "owner_name": "Clara Schmidt"}),
 ("vet_visit", "My dog Rex, a 9-year-old Boxer weighing 29.5 kg, had a lump removed two weeks ago; the surgeon asked to see him again on 16 December 2024 to check the stitches. He's neutered. Owner: Sipho Dlamini.",
  {"pet_name": "Rex", "species": "dog", "age_years": 9, "weight_kg": 29.5, "reason": "post_op_review", "appt_date": "2024-12-16", "neutered": True, "owner_name": "Sipho Dlamini"}),

 # --- customs declaration -------------------------------------------------------------
 ("customs_declaration", "Name: Arjun Malhotra. Passport No. Z1234567. Nationality: Indian. Arriving from Dubai on EK500, 14/03/2024. I am carrying 2 bottles of whisky and a gold chain; declared goods total value Rs. 1,25,000. Yes, I have goods to declare.",
  {"travellerName": "Arjun Malhotra", "passportNumber": "Z1234567", "nationality": "Indian", "arrivingFrom": "Dubai", "flightNumber": "EK500", "arrivalDate": "2024-03-14", "goods": ["alcohol", "gold_jewellery"], "dutiableValue": 125000, "currency": "INR", "hasGoodsToDeclare": True}),
 ("customs_declaration", "Traveller Sarah Johnson, nationality American, passport number A9876543, arriving from New York on AI102 on 3 Mar 2024. Nothing to declare: only personal clothes and a laptop for my own use.",
  {"travellerName": "Sarah Johnson", "nationality": "American", "passportNumber": "A9876543", "arrivingFrom": "New York", "flightNumber": "AI102", "arrivalDate": "2024-03-03", "hasGoodsToDeclare": False}),
 ("customs_declaration", "Passenger Wei Zhang, Chinese national, passport E4455667, arriving on SQ422 from Singapore on 2024-05-10. Declaring commercial samples (20 phone cases) and one carton of cigarettes. Value of goods SGD 1,450.",
  {"travellerName": "Wei Zhang", "nationality": "Chinese", "passportNumber": "E4455667", "flightNumber": "SQ422", "arrivingFrom": "Singapore", "arrivalDate": "2024-05-10", "goods": ["commercial_samples", "tobacco"], "dutiableValue": 1450, "currency": "SGD", "hasGoodsToDeclare": True}),
 ("customs_declaration", "I'm Omar Haddad, Jordanian, passport K7788990. Flying in from Amman on RJ182, arriving on the 5th of May 2024. I'm bringing dates, olive oil and some homemade sweets, and I have USD 12,000 in cash, which I understand is above the limit. Total of the goods approx $300.",
  {"travellerName": "Omar Haddad", "nationality": "Jordanian", "passportNumber": "K7788990", "arrivingFrom": "Amman", "flightNumber": "RJ182", "arrivalDate": "2024-05-05", "goods": ["food_items", "currency_over_limit"], "dutiableValue": 300, "currency": "USD", "hasGoodsToDeclare": True}),
 ("customs_declaration", "Declaration: Emily Clarke, nationality British, passport P1029384, from London Heathrow, flight BA139, 2 June 2024. Goods: medicines for personal use (insulin, 3 months' supply) and a new DSLR camera. Total value £1,200. Declaring.",
  {"travellerName": "Emily Clarke", "nationality": "British", "passportNumber": "P1029384", "arrivingFrom": "London Heathrow", "flightNumber": "BA139", "arrivalDate": "2024-06-02", "goods": ["medicines", "electronics"], "dutiableValue": 1200, "currency": "GBP", "hasGoodsToDeclare": True}),
 ("customs_declaration", "Nothing to declare. Rohan Das, Indian, passport M5566778, arriving from Bangkok, flight TG315, 2024-07-21. I have no alcohol or tobacco with me.",
  {"hasGoodsToDeclare": False, "travellerName": "Rohan Das", "nationality": "Indian", "passportNumber": "M5566778", "arrivingFrom": "Bangkok", "flightNumber": "TG315", "arrivalDate": "2024-07-21"}),
 ("customs_declaration", "Name Yuki Yamamoto; nationality Japanese; passport T2233445. Arrived from Tokyo Narita on JL749, 19/08/2024. I'm carrying gifts: a bottle of sake and two packets of rice crackers, worth about JPY 8,000 in total. Declaring all.",
  {"travellerName": "Yuki Yamamoto", "nationality": "Japanese", "passportNumber": "T2233445", "arrivingFrom": "Tokyo Narita", "flightNumber": "JL749", "arrivalDate": "2024-08-19", "goods": ["alcohol", "food_items"], "dutiableValue": 8000, "currency": "JPY", "hasGoodsToDeclare": True}),
 ("customs_declaration", "Hello, Fatma Yilmaz, Turkish, passport U3344556, coming from Istanbul on TK716 on 2024-09-14. I have flower bulbs and seeds from my garden, plus two kilos of Turkish delight. Value about EUR 90. Yes, I'm declaring them.",
  {"travellerName": "Fatma Yilmaz", "nationality": "Turkish", "passportNumber": "U3344556", "arrivingFrom": "Istanbul", "flightNumber": "TK716", "arrivalDate": "2024-09-14", "goods": ["plants_seeds", "food_items"], "dutiableValue": 90, "currency": "EUR", "hasGoodsToDeclare": True}),
 ("customs_declaration", "Traveller: David Müller, German national, passport C8899001, arriving from Frankfurt on LH760, 1 Oct 2024. Commercial samples of industrial valves for a trade fair, total invoice value EUR 4,750. I also have 1 litre of duty-free gin, within the allowance and not declared.",
  {"travellerName": "David Müller", "nationality": "German", "passportNumber": "C8899001", "arrivingFrom": "Frankfurt", "flightNumber": "LH760", "arrivalDate": "2024-10-01", "goods": ["commercial_samples"], "dutiableValue": 4750, "currency": "EUR", "hasGoodsToDeclare": True}),
 ("customs_declaration", "Passport N6677889, name Priyanka Iyer, nationality Indian. Coming back from Singapore, flight 6E1006, arriving 2024-10-27. I bought an iPhone and a laptop abroad, plus 50 g of gold coins. Total: ₹5,70,000. Declaring everything.",
  {"passportNumber": "N6677889", "travellerName": "Priyanka Iyer", "nationality": "Indian", "arrivingFrom": "Singapore", "flightNumber": "6E1006", "arrivalDate": "2024-10-27", "goods": ["electronics", "gold_jewellery"], "dutiableValue": 570000, "currency": "INR", "hasGoodsToDeclare": True}),
 ("customs_declaration", "Mr. Ahmed Khan, Pakistani national, passport B1122334, arriving from Lahore on PK271 on 11/11/2024. Declares: 5 cartons of cigarettes and herbal medicines. Value USD 150.",
  {"travellerName": "Ahmed Khan", "nationality": "Pakistani", "passportNumber": "B1122334", "arrivingFrom": "Lahore", "flightNumber": "PK271", "arrivalDate": "2024-11-11", "goods": ["tobacco", "medicines"], "dutiableValue": 150, "currency": "USD", "hasGoodsToDeclare": True}),
 ("customs_declaration", "I have nothing to declare. Lucas Martin, French, passport F5544332, arrived from Paris on AF218 on 2024-12-08. Just a few souvenirs worth under €50.",
  {"hasGoodsToDeclare": False, "travellerName": "Lucas Martin", "nationality": "French", "passportNumber": "F5544332", "arrivingFrom": "Paris", "flightNumber": "AF218", "arrivalDate": "2024-12-08"}),
 ("customs_declaration", "Customs form for Ngozi Adeyemi (Nigerian), passport A5566771, arriving from Lagos via Dubai on EK510, 3 Jan 2025. I'm carrying USD 15,000 in cash for my daughter's university fees, and some dried fish. Declaring both; value of the goods other than cash: USD 80.",
  {"travellerName": "Ngozi Adeyemi", "nationality": "Nigerian", "passportNumber": "A5566771", "arrivingFrom": "Lagos", "flightNumber": "EK510", "arrivalDate": "2025-01-03", "goods": ["currency_over_limit", "food_items"], "dutiableValue": 80, "currency": "USD", "hasGoodsToDeclare": True}),
]


def _squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().casefold()


def _alnum(s: str) -> str:
    return re.sub(r"[^0-9a-z]", "", s.casefold())


def _traceable(value, text: str) -> bool:
    """A span-like answer must be readable off the text (codes and phones modulo spacing)."""
    items = value if isinstance(value, list) else [value]
    return all(_squash(v) in _squash(text) or _alnum(v) in _alnum(text) for v in items)


def check(rows=ROWS) -> list[str]:
    """Every problem with the data set, as one line each (empty list: fine)."""
    kinds = json.loads((HERE / "kinds.json").read_text())
    problems = []
    forms = {}
    for path in sorted(HERE.glob("*.json")):
        if path.name == "kinds.json":
            continue
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        forms[path.stem] = schema
        missing = set(schema["properties"]) ^ set(kinds.get(path.stem, {}))
        if missing:
            problems.append(f"{path.stem}: kinds.json and properties differ on {sorted(missing)}")
    per_form = dict.fromkeys(forms, 0)
    for i, (form, text, expected) in enumerate(rows):
        per_form[form] = per_form.get(form, 0) + 1
        if form not in forms:
            problems.append(f"row {i}: unknown form {form}")
            continue
        validator = Draft202012Validator(forms[form], format_checker=FormatChecker())
        problems += [f"row {i} ({form}): {e.message}" for e in validator.iter_errors(expected)]
        for field, value in expected.items():
            if forms[form]["properties"].get(field, {}).get("format") == "date" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                problems.append(f"row {i} ({form}): {field} not ISO: {value!r}")
            if kinds[form].get(field) in SPAN_KINDS and not _traceable(value, text):
                problems.append(f"row {i} ({form}): {field}={value!r} is not in the text")
    problems += [f"{form}: only {n} narratives" for form, n in per_form.items() if n < MIN_PER_FORM]
    return problems


def records(rows=ROWS) -> list[dict]:
    return [{"id": f"hf-{i:03d}", "form": form, "text": text, "expected": expected}
            for i, (form, text, expected) in enumerate(rows)]


if __name__ == "__main__":
    found = check()
    if found:
        print("\n".join(found), file=sys.stderr)
        sys.exit(1)
    with OUT.open("w") as fh:
        for rec in records():
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(len(ROWS), "narratives over", len({r[0] for r in ROWS}), "forms ->", OUT.name)
