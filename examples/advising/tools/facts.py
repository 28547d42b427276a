"""The facts table of the Northfield University advising example.

Each ``Fact`` names the passage that states it (by a verbatim ``anchor``) and carries one or
more correct question/answer paraphrases. When ``wrong`` is set, the fact's *last* pair is
corrupted instead: ``wrong = (kind, right, bad)`` replaces the exact text ``right`` in that
answer with ``bad`` (a controlled wrong number or date). Each ``Planted`` record is a
hand-written error of another kind (outdated, negated, wrong entity, over-generalised, invented,
unsupported or an answer to a question the sources do not cover).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    key: str
    topic: str
    doc: str
    anchor: str
    qas: tuple[tuple[str, str], ...]
    wrong: tuple[str, str, str] | None = None
    severity: str = "major"
    also: tuple[tuple[str, str], ...] = ()  # further (doc, anchor) passages the answer draws on


@dataclass(frozen=True)
class Planted:
    key: str
    topic: str
    doc: str
    anchor: str  # locates the cited passage (and the truth passage unless truth is False)
    question: str
    answer: str
    kind: str
    severity: str
    note: str
    truth: bool = True  # False: no passage shows the truth (unanswerable questions)


def F(key, topic, doc, anchor, *qas, wrong=None, sev="major", also=()):  # noqa: N802
    return Fact(key, topic, doc, anchor, tuple(qas), wrong, sev, tuple(also))


FACTS: list[Fact] = [
    # ---------------------------------------------------------------- contacts (oiss-office)
    F("office_hours", "contacts", "oiss-office", "open Monday to Friday from 9:00 a.m. to 5:00 p.m.",
      ("What are the OISS office hours?",
       "The Office of International Student Services is open Monday to Friday, 9:00 a.m. to "
       "5:00 p.m. During the fall and spring semesters it also stays open until 7:00 p.m. on "
       "Wednesdays."),
      ("Can I visit the international student office on a Saturday?",
       "No. OISS is closed on weekends and university holidays. Come by Monday to Friday between "
       "9:00 a.m. and 5:00 p.m.")),
    F("office_location", "contacts", "oiss-office", "Room 210 of Harmon Hall",
      ("Where is the OISS office?",
       "OISS is in Room 210 of Harmon Hall, 45 College Avenue.")),
    F("winter_closure", "contacts", "oiss-office", "from December 22 to January 2",
      ("Is OISS open during the winter break?",
       "No. The office is closed for the whole winter break, from December 22 to January 2. For "
       "an urgent immigration problem you can still call the 24-hour emergency line."),
      ("When does OISS close for the holidays at the end of the year?",
       "OISS is closed for the entire winter break, from December 22 to January 2, and reopens "
       "after that on its normal weekday schedule."),
      wrong=("wrong_date", "January 2", "January 5"), sev="minor",
      also=[("oiss-office", "(555) 214-3999")]),
    F("drop_in", "contacts", "oiss-office", "Tuesdays and Thursdays from 1:00 p.m. to 4:00 p.m.",
      ("When can I see an advisor without an appointment?",
       "Drop-in advising runs on Tuesdays and Thursdays from 1:00 p.m. to 4:00 p.m. Each drop-in "
       "visit is limited to 15 minutes."),
      ("How long is a drop-in advising visit?",
       "Drop-in visits are capped at fifteen minutes per student. If you need more time, book a "
       "30-minute appointment with an advisor through the iPortal.")),
    F("general_contact", "contacts", "oiss-office", "oiss@northfield.edu or (555) 214-3800",
      ("What's the main phone number for OISS?",
       "You can reach OISS at (555) 214-3800 or by email at oiss@northfield.edu.")),
    F("employment_contact", "contacts", "oiss-office", "oiss-employment@northfield.edu",
      ("Who do I email with questions about OPT?",
       "Send CPT and OPT questions to the OISS employment address, "
       "oiss-employment@northfield.edu.")),
    F("documents_contact", "contacts", "oiss-office", "oiss-documents@northfield.edu",
      ("Which email address handles travel signature questions?",
       "Travel signatures and document requests go to oiss-documents@northfield.edu.")),
    F("emergency_line", "contacts", "oiss-office", "(555) 214-3999",
      ("Who do I call if I'm refused entry at the airport in the middle of the night?",
       "Call the OISS emergency line at (555) 214-3999. It is answered 24 hours a day for urgent "
       "immigration problems outside office hours."),
      ("What should I do first in a medical emergency on campus?",
       "Call 911 first, and then contact Campus Safety at (555) 214-4111.")),
    F("response_times", "contacts", "oiss-office", "OISS answers email within 2 business days",
      ("How quickly does OISS reply to emails?",
       "OISS answers email within two business days."),
      ("How long does it take to get an enrollment verification letter?",
       "Document requests such as an enrollment verification letter are completed within 5 "
       "business days, so ask well before you need it.")),
    # ------------------------------------------------------------------------- immigration
    F("extension", "immigration", "immigration-status", "at least 30 days before that end date",
      ("My I-20 ends before I'll finish my degree. What should I do?",
       "Request a program extension from OISS at least 30 days before the program end date on "
       "your I-20. An extension cannot be granted once the I-20 has expired.")),
    F("dso", "immigration", "immigration-status",
      "issued by a Designated School Official (DSO) at OISS",
      ("Who issues the Form I-20?",
       "Your I-20 is issued by a Designated School Official (DSO) at OISS. Check that your name, "
       "program dates and funding match your passport and financial documents.")),
    F("sevis_fee", "immigration", "immigration-status", "I-901 SEVIS fee of $350",
      ("How much is the SEVIS fee?",
       "The I-901 SEVIS fee for F-1 students is $350. Pay it before your visa interview and keep "
       "the receipt with your I-20."),
      ("What's the I-901 fee in dollars for an F-1 student?",
       "It is 350 dollars, and it has to be paid before your visa interview."),
      ("Do I have to pay anything before my visa interview?",
       "Yes. You must pay the I-901 SEVIS fee of $350 before the interview and keep the payment "
       "receipt together with your I-20."),
      wrong=("wrong_number", "$350", "$220")),
    F("sevis_canada", "immigration", "immigration-status", "Students from Canada and Bermuda",
      ("I'm Canadian and don't need a visa. Do I still pay the SEVIS fee?",
       "Yes. Students from Canada and Bermuda must still pay the SEVIS fee before they enter the "
       "United States, even though they don't need a visa.")),
    F("check_in", "immigration", "immigration-status",
      "within 10 days of the program start date shown on the I-20",
      ("When do I need to do immigration check-in?",
       "Complete immigration check-in with OISS within 10 days of the program start date on your "
       "I-20. It's done online through the iPortal."),
      ("How do I check in with OISS after I arrive?",
       "Check-in is online through the iPortal: you upload your passport, visa and I-94 record. "
       "Do it within ten days of your program start date."),
      ("Is there a deadline for checking in with OISS after I arrive?",
       "Yes. New students must complete immigration check-in within 10 days of the program start "
       "date on the I-20; a student who never checks in risks SEVIS termination."),
      wrong=("wrong_number", "10 days", "21 days"), sev="critical"),
    F("sevis_registration", "immigration", "immigration-status",
      "register your arrival in SEVIS within 30 days",
      ("What happens if I never check in with OISS?",
       "OISS has to register your arrival in SEVIS within 30 days of the program start date. If "
       "you never check in, your SEVIS record risks being terminated.")),
    F("address_change", "immigration", "immigration-status",
      "Report a change of U.S. address within 10 days",
      ("I moved to a new apartment. How long do I have to update my address?",
       "Report your new U.S. address within 10 days of moving by updating it in the Student "
       "Information System.")),
    F("major_change", "immigration", "immigration-status",
      "A change of major, degree level or funding must be reported to OISS",
      ("I'm switching majors. Does OISS need to know?",
       "Yes. A change of major, degree level or funding must be reported to OISS so that a new "
       "I-20 can be issued."),
      ("I changed my legal name. What does OISS need from me?",
       "A change of legal name requires a copy of your new passport, so send OISS a copy once "
       "you have it.")),
    F("grace_60", "immigration", "immigration-status", "you have a 60-day grace period",
      ("How long can I stay in the U.S. after I graduate?",
       "After you complete your program you have a 60-day grace period to leave the country, "
       "transfer to another school, begin a new program or change status."),
      ("What's the grace period after finishing my degree?",
       "Sixty days. During that time you can depart, transfer, start a new program or change "
       "status."),
      ("Once my program is over, how long do I have before I must leave the country?",
       "You get a 60-day grace period after completing your program. Within it you can leave, "
       "transfer, start a new program or change status."),
      wrong=("wrong_number", "60-day", "30-day"), sev="critical"),
    F("grace_15", "immigration", "immigration-status", "the grace period is 15 days",
      ("If I withdraw with OISS approval, how long is my grace period?",
       "An authorized withdrawal approved by OISS comes with a 15-day grace period. If you "
       "withdraw without authorization, there is no grace period at all.")),
    F("passport", "immigration", "immigration-status",
      "valid for at least 6 months into the future",
      ("Can OISS renew my passport?",
       "No. OISS does not issue or renew passports. Renew it through your country's embassy or "
       "consulate in the United States.")),
    # ------------------------------------------------------------------------------ travel
    F("travel_signature", "travel", "travel", "valid for 12 months while you are enrolled",
      ("How long is a travel signature valid?",
       "While you are enrolled in classes, a travel signature is valid for 12 months. If you are "
       "on post-completion OPT, it is valid for 6 months."),
      ("I'm on OPT now. How long is my travel signature good for?",
       "On post-completion OPT a travel signature is valid for 6 months, compared with 12 months "
       "for students who are enrolled in classes.")),
    F("travel_request", "travel", "travel", "at least 2 weeks before you leave",
      ("When should I request a travel signature?",
       "Submit the Travel Signature e-form on the iPortal at least 2 weeks before you leave.")),
    F("travel_processing", "travel", "travel", "requests are processed within 5 business days",
      ("How long does OISS take to process a travel signature?",
       "Since January 2025, travel signature requests are processed within 5 business days.")),
    F("walk_in", "travel", "travel", "Walk-in signatures are not offered",
      ("Can I walk in to OISS and get my I-20 signed the same day?",
       "No. Walk-in signatures are not offered. Submit the Travel Signature e-form on the iPortal "
       "at least two weeks before you travel."),
      ("Will OISS mail my signed I-20 to me if I'm already abroad?",
       "Only by express courier, and at your own cost. Otherwise OISS does not mail signed I-20s "
       "abroad, so request the signature before you leave.")),
    F("reentry_documents", "travel", "travel",
      "your I-20 with a valid travel signature and proof of enrollment for the next term",
      ("What documents do I need to come back into the U.S. after winter break?",
       "Bring a passport valid at least 6 months beyond your re-entry date, a valid F-1 visa, "
       "your I-20 with a valid travel signature, and proof of enrollment for the next term."),
      ("I'm on OPT. What else should I carry when re-entering the U.S.?",
       "Besides your passport, visa and I-20 with a valid travel signature, carry your EAD card "
       "and a letter from your employer."),
      ("Do Canadian students need an F-1 visa to re-enter?",
       "No, a valid F-1 visa is not required for Canadian citizens. They still need a passport, "
       "the I-20 with a valid travel signature and proof of enrollment.")),
    F("long_absence", "travel", "travel", "more than five months",
      ("What happens if I spend six months at home without classes?",
       "If you're outside the U.S. for more than five months and not on an approved study abroad "
       "program, your SEVIS record is terminated. You would need a new initial I-20 and would "
       "pay the SEVIS fee again."),
      ("How long can I stay outside the U.S. before my SEVIS record is terminated?",
       "If you're abroad for more than 5 months without an approved study abroad program, your "
       "SEVIS record is terminated and you need a new initial I-20 to come back."),
      wrong=("wrong_number", "5 months", "6 months")),
    F("visa_renewal", "travel", "travel",
      "can only be renewed at a U.S. embassy or consulate outside the United States",
      ("Can I renew my F-1 visa without leaving the U.S.?",
       "No. An expired F-1 visa can only be renewed at a U.S. embassy or consulate outside the "
       "United States. Book the appointment before buying plane tickets, because waits can exceed "
       "8 weeks in some countries.")),
    # ------------------------------------------------------------------ work authorisation
    F("on_campus_20", "work_authorisation", "work-authorisation",
      "up to 20 hours per week while classes are in session",
      ("How many hours can I work on campus during the semester?",
       "You can work on campus up to 20 hours per week while classes are in session."),
      ("Is there a weekly cap on campus job hours during term?",
       "Yes: twenty hours a week while classes are in session. The limit goes up during official "
       "school breaks."),
      ("I have a job at the library. What's the most I can work each week during the semester?",
       "During the semester, F-1 students may work on campus up to 20 hours per week. The limit "
       "is higher only during official breaks."),
      wrong=("wrong_number", "20 hours", "25 hours"), sev="critical"),
    F("on_campus_breaks", "work_authorisation", "work-authorisation",
      "up to 40 hours per week if you plan to enroll in the next term",
      ("Can I work full time at my campus job over winter break?",
       "Yes. During official school breaks you may work up to 40 hours per week on campus, as "
       "long as you plan to enroll in the next term.")),
    F("on_campus_ssn", "work_authorisation", "work-authorisation",
      "On-campus work does not need OISS authorization",
      ("Do I need OISS approval before starting a campus job?",
       "No. On-campus work doesn't need OISS authorization, but you do need a Social Security "
       "number to be paid.")),
    F("unauthorized", "work_authorisation", "work-authorisation",
      "Working off campus without authorization is a serious violation",
      ("Can I do freelance web design for clients while I'm studying here?",
       "Not without authorization. Working off campus without authorization is a serious "
       "violation of F-1 status, and that includes freelance work."),
      ("Does an unpaid internship need work authorization?",
       "It may. The OISS guidance says an unpaid internship may also need authorization, so "
       "check with oiss-employment@northfield.edu before you start.")),
    F("cpt_eligibility", "work_authorisation", "work-authorisation",
      "after completing two full-time semesters (one academic year)",
      ("When do I become eligible for CPT?",
       "After completing two full-time semesters (one academic year) in F-1 status. The "
       "exception is a graduate program that requires an internship in its first year."),
      ("How long do I have to be enrolled before I can do CPT?",
       "You become eligible after 2 full-time semesters in F-1 status, unless your graduate "
       "program requires an internship in its first year."),
      wrong=("wrong_number", "2 full-time semesters", "3 full-time semesters")),
    F("cpt_documents", "work_authorisation", "work-authorisation",
      "a job offer letter, registration in a CPT course of at least 1 credit hour",
      ("What do I need to apply for CPT?",
       "You need a job offer letter, registration in a CPT course of at least 1 credit hour, and "
       "your academic advisor's approval.")),
    F("cpt_hours", "work_authorisation", "work-authorisation",
      "Part-time CPT is 20 hours per week or less",
      ("What's the difference between part-time and full-time CPT?",
       "Part-time CPT is 20 hours per week or less; full-time CPT is more than 20 hours per "
       "week.")),
    F("cpt_opt", "work_authorisation", "work-authorisation",
      "If you use 12 months or more of full-time CPT, you lose eligibility for OPT",
      ("Will doing CPT affect my OPT?",
       "Only full-time CPT can. If you use 12 months or more of full-time CPT you lose OPT "
       "eligibility, while part-time CPT doesn't affect OPT at all."),
      ("How much full-time CPT can I do before it affects my OPT?",
       "Using 12 months or more of full-time CPT makes you ineligible for OPT. Part-time CPT "
       "doesn't count against OPT."),
      wrong=("wrong_number", "12 months", "6 months"), sev="critical"),
    F("cpt_request", "work_authorisation", "work-authorisation",
      "at least 15 business days before the start date",
      ("How early should I submit my CPT request?",
       "Submit it at least 15 business days before your start date, and don't start work until "
       "OISS issues your new I-20."),
      ("Can I start my internship while my CPT request is being processed?",
       "No. You must not start work until OISS issues your new I-20 with the CPT authorization, "
       "so submit the request at least 15 business days ahead.")),
    F("opt_length", "work_authorisation", "work-authorisation",
      "up to 12 months of work authorization",
      ("How long is post-completion OPT?",
       "Post-completion OPT gives up to 12 months of work authorization in your field of "
       "study.")),
    F("opt_window", "work_authorisation", "work-authorisation",
      "up to 90 days before your program end date and no later than 60 days after it",
      ("When can I apply for OPT?",
       "You can file Form I-765 with USCIS up to 90 days before your program end date and no "
       "later than 60 days after it, once OISS has recommended you."),
      ("What's the OPT filing window?",
       "From ninety days before your program end date until sixty days after it."),
      ("What's the latest I can file for OPT after graduation?",
       "USCIS must receive your I-765 no later than 60 days after your program end date, and you "
       "need the OISS recommendation first."),
      wrong=("wrong_number", "60 days", "120 days")),
    F("opt_recommendation", "work_authorisation", "work-authorisation",
      "within 30 days of that recommendation",
      ("After OISS recommends me for OPT, how long do I have to file?",
       "USCIS must receive your application within 30 days of the OISS recommendation.")),
    F("stem_opt", "work_authorisation", "work-authorisation", "24-month STEM OPT extension",
      ("How long is the STEM OPT extension?",
       "Students with a degree in an eligible STEM field can apply for a 24-month STEM OPT "
       "extension."),
      ("What does my employer need for me to get STEM OPT?",
       "The employer must be enrolled in E-Verify, and you and your employer must complete a "
       "training plan on Form I-983.")),
    F("stem_filing", "work_authorisation", "work-authorisation",
      "filed up to 90 days before your current OPT ends",
      ("When can I apply for the STEM extension?",
       "The STEM OPT extension application can be filed up to 90 days before your current OPT "
       "ends.")),
    F("unemployment", "work_authorisation", "work-authorisation", "no more than 90 days in total",
      ("How many days of unemployment are allowed on OPT?",
       "Up to 90 days in total during post-completion OPT. A STEM extension adds 60 more, for a "
       "total of 150 days."),
      ("With the STEM extension, how many unemployment days do I get in total?",
       "The STEM OPT extension adds 60 days to the 90 days allowed on regular OPT, for a total of "
       "150 days."),
      wrong=("wrong_number", "150 days", "180 days"), sev="critical"),
    F("report_employer", "work_authorisation", "work-authorisation",
      "Report a new employer or a change of address within 10 days through the SEVP Portal",
      ("I started a new job while on OPT. Do I need to report it?",
       "Yes. Report a new employer within 10 days through the SEVP Portal.")),
    # --------------------------------------------------------------------------- healthcare
    F("insurance_required", "healthcare", "health-insurance",
      "enrolled in at least 1 credit hour must have health insurance",
      ("Do I need health insurance if I'm only taking one class?",
       "Yes. All international students enrolled in at least 1 credit hour must have health "
       "insurance for the whole academic year."),
      ("How do I sign up for the student health plan?",
       "You don't have to: international students are enrolled automatically in the Northfield "
       "Student Health Plan (NSHP), and the charge is added to the student account.")),
    F("nshp_cost", "healthcare", "health-insurance", "the NSHP costs $1,425 per semester",
      ("How much does the student health plan cost?",
       "For 2025-2026 the NSHP costs $1,425 per semester in fall and spring, plus $710 for "
       "summer coverage."),
      ("What's the semester price of the NSHP?",
       "1425 dollars per semester, for fall and for spring alike."),
      ("What will the health insurance charge be on my fall bill?",
       "The Northfield Student Health Plan costs $1,425 for the fall semester; it's added to your "
       "student account automatically."),
      wrong=("wrong_number", "$1,425", "$1,245")),
    F("dependents", "healthcare", "health-insurance", "spouse costs an extra $2,900 per year",
      ("Can I add my spouse to the student plan, and what does it cost?",
       "Yes. Spouse coverage costs an extra $2,900 per year, and coverage for each child costs an "
       "extra $1,650 per year.")),
    F("waiver_deductible", "healthcare", "health-insurance",
      "an annual deductible of no more than $500",
      ("Can I waive the student health plan?",
       "Only if you have a U.S.-based plan that meets university standards, including an annual "
       "deductible of no more than $500.")),
    F("waiver_deadline", "healthcare", "health-insurance",
      "by September 15 for fall or by February 1 for spring",
      ("When is the health insurance waiver deadline?",
       "Submit the waiver form by September 15 for fall or by February 1 for spring."),
      ("By what date must I waive the plan for the fall term?",
       "15 September is the fall waiver deadline (1 February for spring)."),
      ("What's the deadline to waive the NSHP for the spring semester?",
       "The spring waiver deadline is February 1, and you need a qualifying U.S.-based plan."),
      wrong=("wrong_date", "February 1", "March 1")),
    F("home_plan", "healthcare", "health-insurance",
      "plans from a student's home country are no longer accepted",
      ("Can I use my insurance from home to waive the NSHP?",
       "No. Since the 2025-2026 year, home-country plans are no longer accepted for a waiver; "
       "you need a U.S.-based plan that meets university standards.")),
    F("health_center", "healthcare", "health-insurance",
      "Monday to Friday from 8:30 a.m. to 6:00 p.m.",
      ("When is the Student Health Center open?",
       "Monday to Friday from 8:30 a.m. to 6:00 p.m. and Saturday from 10:00 a.m. to 2:00 p.m. "
       "It's in Lowell Hall."),
      ("What's the copay at the health center?",
       "For students on the NSHP, a visit has a $20 copay and a generic prescription has a $10 "
       "copay.")),
    F("counseling", "healthcare", "health-insurance", "8 free individual sessions per academic year",
      ("How many free counseling sessions do I get?",
       "Counseling Services offers each student 8 free individual sessions per academic year, and "
       "group sessions are free and unlimited."),
      ("Is counseling free?",
       "Yes, up to eight free individual sessions each academic year, and group sessions are "
       "free with no limit."),
      ("Is there a mental health crisis line?",
       "Yes. The crisis line, (555) 214-4357, is answered 24 hours a day.")),
    F("er_copay", "healthcare", "health-insurance", "Emergency room visits have a $150 copay",
      ("How much does an emergency room visit cost on the student plan?",
       "An emergency room visit has a $150 copay, which is waived if you're admitted to the "
       "hospital. Urgent care visits have a $50 copay.")),
    F("immunization", "healthcare", "health-insurance",
      "two doses of the MMR vaccine and a tuberculosis screening",
      ("What immunization records do I need?",
       "New students must submit proof of two doses of the MMR vaccine and a tuberculosis "
       "screening before the first day of classes.")),
    # --------------------------------------------------------------------------- admissions
    F("toefl_ug", "admissions", "admissions", "TOEFL iBT score of at least 80",
      ("What TOEFL score do I need for undergraduate admission?",
       "At least 80 on the TOEFL iBT. The minimum was raised to 80 for fall 2025 and later terms; "
       "it used to be 79.")),
    F("ielts_duolingo_ug", "admissions", "admissions",
      "IELTS Academic overall band of at least 6.5",
      ("Can I use the Duolingo English Test to apply as an undergraduate?",
       "Yes, with a score of at least 115."),
      ("What Duolingo score do undergraduate applicants need?",
       "A Duolingo English Test score of at least 115. TOEFL iBT 80 or IELTS 6.5 are the "
       "alternatives."),
      wrong=("wrong_number", "115", "105")),
    F("grad_english", "admissions", "admissions", "TOEFL iBT score of at least 90",
      ("What English scores do graduate applicants need?",
       "A TOEFL iBT score of at least 90 or an IELTS Academic overall band of at least 7.0 with "
       "no section below 6.0. Some programs set higher minimums.")),
    F("english_waiver", "admissions", "admissions",
      "completed at least 2 years of full-time study",
      ("Can the English test requirement be waived?",
       "Yes: for citizens of countries where English is an official language, and for applicants "
       "who completed at least 2 years of full-time study at a school where English is the "
       "language of instruction."),
      ("How old can my TOEFL scores be?",
       "Scores must be no more than 2 years old on your application date.")),
    F("conditional", "admissions", "admissions", "between 65 and 79",
      ("I scored 72 on the TOEFL. Can I still be admitted as an undergraduate?",
       "Possibly. Undergraduate applicants with a TOEFL iBT score between 65 and 79 may be "
       "offered conditional admission through the Northfield English Bridge Program."),
      ("How long is the English Bridge Program?",
       "One semester, and you must finish it with a grade of B or better before starting degree "
       "courses."),
      ("What TOEFL range qualifies for conditional admission?",
       "Undergraduate applicants scoring between 65 and 79 on the TOEFL iBT may be offered "
       "conditional admission through the English Bridge Program."),
      wrong=("wrong_number", "65", "60"), sev="minor"),
    F("app_deadlines", "admissions", "admissions", "deadline is January 15",
      ("When is the international undergraduate application deadline for fall?",
       "January 15. For spring admission, the deadline is October 1."),
      ("What's the fall application deadline for international undergraduates?",
       "15 January."),
      ("What's the spring admission deadline for international undergraduates?",
       "International undergraduates applying for spring must apply by October 1."),
      wrong=("wrong_date", "October 1", "November 1")),
    F("app_fee", "admissions", "admissions",
      "$75 for undergraduate applicants and $90 for graduate applicants",
      ("How much is the application fee?",
       "$75 for undergraduate applicants and $90 for graduate applicants. Fee waivers are not "
       "available to international applicants.")),
    F("proof_funds", "admissions", "admissions", "$58,400 for undergraduates",
      ("How much money do I need to show to get an I-20?",
       "Funds covering at least one year of estimated costs, which is $58,400 for undergraduates "
       "in 2025-2026."),
      ("How recent do my bank statements need to be for the I-20?",
       "They must be dated within the last 6 months.")),
    # ------------------------------------------------------------------------- scholarships
    F("gsa_amount", "scholarships", "scholarships", "worth $8,000 per academic year",
      ("How much is the Global Scholars Award?",
       "$8,000 per academic year, renewable for up to 4 years (8 semesters).")),
    F("gsa_apply", "scholarships", "scholarships", "No separate application is needed",
      ("Do I need a separate application for the Global Scholars Award?",
       "No. Every applicant who applies by the January 15 deadline is considered "
       "automatically.")),
    F("gsa_renewal", "scholarships", "scholarships",
      "cumulative GPA of at least 3.0 and complete at least 24 credit hours",
      ("What GPA do I need to keep the Global Scholars Award?",
       "A cumulative GPA of at least 3.0, and you must also complete at least 24 credit hours "
       "each academic year."),
      ("Did the renewal requirements for the Global Scholars Award change recently?",
       "Yes. Beginning in 2025-2026 the GPA requirement was raised from 2.75 to 3.0."),
      ("How many credits per year do I need to keep my Global Scholars Award?",
       "You must complete at least 24 credit hours each academic year and keep a cumulative GPA "
       "of at least 3.0."),
      wrong=("wrong_number", "24 credit hours", "30 credit hours")),
    F("presidential", "scholarships", "scholarships", "worth $15,000 per academic year",
      ("Tell me about the Presidential International Scholarship.",
       "It is worth $15,000 per academic year and is renewable for up to 4 years. Recipients must "
       "keep a cumulative GPA of at least 3.5, and it needs a separate essay application."),
      ("When is the Presidential scholarship essay due?",
       "The separate essay application for the Presidential International Scholarship is due "
       "February 1."),
      wrong=("wrong_date", "February 1", "January 15")),
    F("probation_scholarship", "scholarships", "scholarships",
      "placed on scholarship probation for one semester",
      ("What happens if my GPA drops below the scholarship minimum?",
       "You're placed on scholarship probation for one semester and keep the award during that "
       "semester. If your GPA is still below the minimum afterwards, the award is cancelled.")),
    F("scholarship_appeal", "scholarships", "scholarships",
      "within 30 days of the cancellation notice",
      ("How long do I have to appeal a cancelled scholarship?",
       "Send the appeal to the Office of Student Financial Aid within 30 days of the "
       "cancellation notice.")),
    F("assistantship", "scholarships", "scholarships",
      "a 100% tuition waiver and a stipend of $18,500",
      ("What does a graduate assistantship include?",
       "A 100% tuition waiver and a stipend of $18,500 per academic year, for 20 hours of work "
       "per week. It doesn't cover the health insurance charge or mandatory fees.")),
    F("combining", "scholarships", "scholarships",
      "total institutional aid cannot exceed the cost of tuition",
      ("Can I combine a Northfield scholarship with an outside award?",
       "Yes, but total institutional aid can't exceed the cost of tuition, and you must report "
       "any outside scholarship to the Office of Student Financial Aid.")),
    # ------------------------------------------------------------------------------ tuition
    F("ug_tuition", "tuition", "tuition-and-payment", "$1,240 per credit hour",
      ("What's undergraduate tuition this year?",
       "$1,240 per credit hour, or a flat $18,600 per semester if you take 12 to 18 credit "
       "hours."),
      ("If I take 20 credits, do I pay more than the flat rate?",
       "Yes. The flat rate covers 12 to 18 credit hours; each credit hour above 18 is charged at "
       "the per-credit rate of $1,240."),
      ("What is the flat-rate tuition for a full-time undergraduate?",
       "Undergraduates taking 12 to 18 credit hours pay a flat $18,600 per semester."),
      wrong=("wrong_number", "$18,600", "$16,800")),
    F("grad_tuition", "tuition", "tuition-and-payment", "Graduate tuition is $1,480 per credit hour",
      ("How much is graduate tuition?",
       "Graduate tuition is $1,480 per credit hour, with no flat rate."),
      ("What would 9 graduate credits cost me per semester?",
       "Graduate tuition is 1480 dollars per credit hour with no flat rate, so 9 credit hours "
       "come to $13,320 in tuition for the semester, before fees.")),
    F("iss_fee", "tuition", "tuition-and-payment",
      "International Student Services fee of $175 per semester",
      ("Is there a special fee for international students?",
       "Yes, an International Student Services fee of $175 per semester, which funds OISS "
       "advising and SEVIS reporting."),
      ("What other mandatory fees do students pay?",
       "All students pay a Student Activity fee of $95 and a Technology fee of $120 per semester, "
       "and international students also pay the $175 International Student Services fee.")),
    F("pay_deadlines", "tuition", "tuition-and-payment", "Fall 2025 charges are due on August 20, 2025",
      ("When is fall tuition due?",
       "Fall 2025 charges are due on August 20, 2025."),
      ("What's the fall 2025 payment deadline?",
       "20 August 2025."),
      ("What's the payment deadline for the spring semester?",
       "Spring 2026 charges are due on January 10, 2026. An international transfer should be "
       "started at least 10 days before that."),
      wrong=("wrong_date", "January 10, 2026", "January 15, 2026")),
    F("late_additions", "tuition", "tuition-and-payment", "due 14 days after they are posted",
      ("If I add a course after the payment deadline, when is that charge due?",
       "Charges added after the deadline are due 14 days after they are posted."),
      ("When should I start an international wire transfer for tuition?",
       "At least 10 days before the deadline, because a payment counts as received when the funds "
       "reach your student account, not when you send them.")),
    F("late_fee", "tuition", "tuition-and-payment", "A late payment fee of $150",
      ("What's the late payment fee?",
       "$150, charged once per semester if your balance isn't paid in full by the due date. It "
       "was raised from $100 in 2025."),
      ("My wire transfer arrived late because of my bank. Will the late fee be waived?",
       "No. A late fee is not waived because an international wire transfer arrived late, so "
       "start transfers at least 10 days before the deadline."),
      also=[("tuition-and-payment", "at least 10 days before the")]),
    F("hold", "tuition", "tuition-and-payment", "a registration hold is placed on the account",
      ("When does an unpaid balance cause a registration hold?",
       "If more than $500 is still unpaid 30 days after the due date, a registration hold is "
       "placed. You can't register for the next term or get an official transcript until it's "
       "paid."),
      ("Can OISS lift a financial hold on my account?",
       "No, OISS cannot remove a financial hold. Contact the Office of Student Accounts at "
       "accounts@northfield.edu.")),
    F("payment_plan", "tuition", "tuition-and-payment", "into 4 monthly instalments with no interest",
      ("Is there a tuition payment plan?",
       "Yes. The Northfield Payment Plan splits each semester's charges into 4 monthly "
       "instalments with no interest. Enrolment costs $40 per semester."),
      ("Can I put my housing deposit on the payment plan?",
       "No. The payment plan doesn't cover the housing deposit, which must be paid in full with "
       "the housing application.")),
    F("card_fee", "tuition", "tuition-and-payment", "2.85% service fee",
      ("Can I pay tuition by credit card?",
       "Yes, but credit and debit card payments carry a 2.85% service fee. Flywire and U.S. bank "
       "transfers (ACH) are the alternatives, and ACH costs nothing.")),
    F("refunds", "tuition", "tuition-and-payment", "75% during the second",
      ("If I withdraw during the third week, how much tuition do I get back?",
       "50% of tuition. Refunds are 100% through the first week, 75% in the second week, 50% in "
       "the third and 25% in the fourth; nothing is refunded after that."),
      ("Will I get any money back if I withdraw in week four?",
       "Yes, a quarter of your tuition is refunded during the fourth week. After the fourth week "
       "nothing is refunded."),
      ("Are fees refunded if I withdraw?",
       "Fees are not refunded after the first week of classes. Talk to OISS before withdrawing, "
       "because it affects your F-1 status."),
      ("What tuition refund do I get if I withdraw in the second week?",
       "Withdrawing from all classes in the second week gets you a 75% tuition refund."),
      wrong=("wrong_number", "75%", "60%")),
    F("accounts_office", "tuition", "tuition-and-payment", "Monday to Friday from 8:00 a.m. to",
      ("When is the Office of Student Accounts open?",
       "Monday to Friday from 8:00 a.m. to 4:30 p.m., on the first floor of Keller Hall.")),
    F("sponsor", "tuition", "tuition-and-payment", "send the sponsor's letter to",
      ("My government is paying my tuition. What do I need to do?",
       "Send your sponsor's letter to the Office of Student Accounts at accounts@northfield.edu "
       "before the payment deadline.")),
    # ------------------------------------------------------------------------------ housing
    F("hall_rates", "housing", "housing", "Double room | $4,350",
      ("How much is a double room in Birch Hall?",
       "$4,350 per semester, including utilities and internet."),
      ("How much is a single room in Birch Hall?",
       "A single room in Birch Hall costs $5,600 per semester."),
      ("What does a room in Cedar Apartments cost?",
       "A private bedroom in a four-person apartment costs $5,150 per semester."),
      ("Can an undergraduate live in Maple House?",
       "No. Maple House is for graduate students only; its studios cost $6,200 per semester.")),
    F("housing_apply", "housing", "housing", "by May 1 for the fall semester or by November 1",
      ("When is the housing application deadline?",
       "Apply through the Housing Portal by May 1 for fall or by November 1 for spring."),
      ("How much is the housing deposit?",
       "$300, due with the application. It was raised from $250 in 2025.")),
    F("deposit_refund", "housing", "housing", "fully refundable if you cancel by June 1",
      ("Is the housing deposit refundable?",
       "Yes, fully, if you cancel by June 1. After that date it is not refunded."),
      ("What's the last day to cancel my housing and still get the deposit back?",
       "You get the full deposit back if you cancel by June 1."),
      wrong=("wrong_date", "June 1", "July 1")),
    F("move_in", "housing", "housing", "Fall move-in for new international students is August 14",
      ("When is move-in for new international students?",
       "Fall move-in for new international students is August 14, 2025."),
      ("Can I move into campus housing early?",
       "Yes. You can request up to 3 nights of early arrival housing at $45 per night; the "
       "request must be in by July 15.")),
    F("winter_housing", "housing", "housing", "from December 20 to January 10",
      ("Does Birch Hall stay open over winter break?",
       "No. Birch Hall closes from December 20 to January 10. Birch residents can stay in Cedar "
       "Apartments over the break for $25 per night if they apply by December 1.")),
    F("meal_plans", "housing", "housing", "The Standard plan costs $2,450 per semester",
      ("Do I need a meal plan?",
       "Only if you're a first-year student living in Birch Hall. Cedar Apartments and Maple "
       "House residents don't need one because their units have kitchens.")),
    F("off_campus", "housing", "housing", "cannot sign a lease for you or act as your guarantor",
      ("Can OISS act as the guarantor on my apartment lease?",
       "No. OISS and Residence Life cannot sign a lease for you or act as your guarantor. Most "
       "leases near campus last 12 months.")),
    F("housing_contact", "housing", "housing", "housing@northfield.edu or (555) 214-3600",
      ("Who do I contact about campus housing?",
       "The Office of Residence Life, at housing@northfield.edu or (555) 214-3600."),
      ("Is campus housing guaranteed for first-year international students?",
       "Yes, for first-year international students who apply by the deadline.")),
    # -------------------------------------------------------------------------- orientation
    F("arrival_30", "orientation", "orientation-arrival",
      "no more than 30 days before the program start date",
      ("How early can I enter the U.S. before my program starts?",
       "No more than 30 days before the program start date on your I-20."),
      ("What's the earliest I can arrive in the U.S. on my new F-1 visa?",
       "F-1 rules let you enter no more than 30 days before the program start date on your I-20; "
       "new students should arrive by August 14, 2025."),
      wrong=("wrong_number", "30 days", "45 days"), sev="critical"),
    F("classes_start", "orientation", "orientation-arrival", "Fall classes begin on August 25, 2025",
      ("When do fall classes start?",
       "Fall classes begin on August 25, 2025."),
      ("When should new international students arrive for fall?",
       "By August 14, 2025, so you can move in and attend orientation.")),
    F("orientation_dates", "orientation", "orientation-arrival",
      "runs from August 18 to August 21, 2025",
      ("When is international student orientation?",
       "From August 18 to August 21, 2025. It is mandatory for all new international "
       "students."),
      ("I'm a transfer student. Do I have to attend orientation?",
       "Yes. Orientation is mandatory for all new international students, including graduate and "
       "transfer students."),
      ("What are the orientation dates this fall?",
       "International Student Orientation runs from August 18 to August 21, 2025, and attendance "
       "is mandatory for new international students."),
      wrong=("wrong_date", "August 21", "August 22"), sev="minor"),
    F("orientation_fee", "orientation", "orientation-arrival", "orientation fee of $150",
      ("Is there a fee for orientation?",
       "Yes, a one-time $150 fee charged to your student account; it covers meals and "
       "materials.")),
    F("shuttle", "orientation", "orientation-arrival", "A free shuttle runs from Riverside",
      ("Is there an airport pickup for new students?",
       "Yes. A free shuttle runs from Riverside International Airport to campus on August 12, 13 "
       "and 14, 2025, between 10:00 a.m. and 8:00 p.m. Register at least 7 days before you "
       "arrive.")),
    F("bring", "orientation", "orientation-arrival", "Bring your passport, your I-20",
      ("What documents should I bring with me when I fly to campus?",
       "Your passport, I-20, admission letter, proof of funding and immunization records, kept in "
       "your hand luggage rather than in checked bags.")),
    F("id_card", "orientation", "orientation-arrival", "a replacement costs $25",
      ("How much does a replacement ID card cost?",
       "$25. Your first Northfield ID card is free; cards are issued at the Card Office in the "
       "Student Union."),
      ("When can I apply for a Social Security number?",
       "If you have an on-campus job offer, apply no earlier than 10 days after you arrive.")),
    # -------------------------------------------------------------------------- course load
    F("full_time", "course_load", "course-load", "at least 12 credit hours and graduate students",
      ("How many credits do I need to be full time?",
       "At least 12 credit hours for undergraduates and at least 9 for graduate students in the "
       "fall and spring semesters."),
      ("What counts as full time for a graduate student?",
       "Nine credit hours or more in each fall and spring semester."),
      ("What's the minimum full-time load for an undergraduate?",
       "Undergraduates must enroll in at least 12 credit hours in the fall and spring "
       "semesters."),
      wrong=("wrong_number", "12 credit hours", "15 credit hours")),
    F("summer", "course_load", "course-load", "Summer enrollment is not required unless",
      ("Do I have to take summer classes?",
       "No, unless summer is your first term at Northfield.")),
    F("online", "course_load", "course-load", "Only one online course, of up to 3 credit hours",
      ("Do online courses count toward full-time enrollment?",
       "Only one online course of up to 3 credit hours counts each semester. You can take more, "
       "but they won't count toward full-time enrollment.")),
    F("rcl_reasons", "course_load", "course-load", "initial academic difficulty in your first",
      ("What are valid reasons for a reduced course load?",
       "Initial academic difficulty in your first semester, a documented medical condition, or "
       "your final semester if you need fewer credits to graduate.")),
    F("rcl_limits", "course_load", "course-load", "still requires at least 6 credit hours",
      ("How few credits can I take with an RCL for academic difficulty?",
       "At least 6 credit hours, and an academic-difficulty RCL can be used only once per degree "
       "level."),
      ("How long can a medical RCL last?",
       "A medical RCL may add up to no more than 12 months per degree level, and it may go down "
       "to 0 credit hours."),
      ("What is the maximum total time for a medical reduced course load?",
       "Medical RCLs can add up to at most 12 months per degree level."),
      wrong=("wrong_number", "12 months", "24 months")),
    F("rcl_deadline", "course_load", "course-load", "September 12, 2025 for fall",
      ("When do I need to request an RCL?",
       "Before you drop below full time, and no later than the last day to drop classes, which "
       "is September 12, 2025 for fall."),
      ("What's the last day to request a reduced course load this fall?",
       "The RCL must be requested by the last day to drop classes, September 12, 2025."),
      wrong=("wrong_date", "September 12", "September 19")),
    F("rcl_form", "course_load", "course-load",
      "RCL requests are submitted to OISS through the iPortal e-form",
      ("How do I submit an RCL request?",
       "Through the RCL e-form on the iPortal, to OISS. A medical RCL also needs a letter from a "
       "licensed physician or clinical psychologist.")),
    F("drop_violation", "course_load", "course-load",
      "Dropping below full time without an approved RCL is a status violation",
      ("What if I drop a class and go below full time without approval?",
       "That's a status violation. OISS must report it in SEVIS, and your SEVIS record may be "
       "terminated, so talk to OISS before dropping any class.")),
    F("probation", "course_load", "course-load", "below 2.0 are placed on academic probation",
      ("What GPA puts me on academic probation?",
       "A cumulative GPA below 2.0 for undergraduates, or below 3.0 for graduate students."),
      ("Does academic probation end my F-1 status?",
       "No, probation doesn't by itself change F-1 status, but you must meet an academic advisor "
       "within 3 weeks of the start of the semester.")),
    # ----------------------------------------------------------------------------- transfer
    F("release_date", "transfer", "transfer", "within your 60-day grace period",
      ("How is my SEVIS release date set when I transfer out?",
       "You choose it with OISS. It must fall within your current program or within your 60-day "
       "grace period."),
      ("What happens to a pending OPT application if I transfer out?",
       "After the release date, any pending OPT application is cancelled and Northfield can no "
       "longer change your SEVIS record.")),
    F("transfer_in", "transfer", "transfer", "within 5 months of your release date",
      ("How soon must my Northfield program start after I transfer in?",
       "Within 5 months of your release date or of your last day of classes, whichever comes "
       "first.")),
    F("transfer_credit", "transfer", "transfer", "grade of C or better",
      ("What grade do I need for a course to transfer?",
       "A C or better, from an accredited institution."),
      ("How long does the transfer credit evaluation take?",
       "The Registrar evaluates transfer credit within 4 weeks of receiving your official "
       "transcripts."),
      ("How many credits can I transfer in as an undergraduate?",
       "At most 60 credit hours, and at least 30 of your final credit hours must be completed at "
       "Northfield."),
      wrong=("wrong_number", "60 credit hours", "72 credit hours"), sev="minor"),
    F("naces", "transfer", "transfer", "NACES member credential evaluator",
      ("Do my transcripts from abroad need an evaluation?",
       "Yes, a course-by-course evaluation from a NACES member credential evaluator. You pay the "
       "evaluator directly, and Northfield does not refund the cost.")),
    F("cpt_transfer", "transfer", "transfer", "complete one semester at Northfield before",
      ("I transferred after a year at another school. Can I start CPT right away?",
       "Not right away. Your earlier F-1 time counts toward the one-year requirement if there was "
       "no break in status, but you must complete one semester at Northfield before OISS can "
       "approve CPT.")),
]


def P(key, topic, doc, anchor, question, answer, kind, sev, note, truth=True):  # noqa: N802
    return Planted(key, topic, doc, anchor, question, answer, kind, sev, note, truth)


PLANTED: list[Planted] = [
    # ---------------------------------------------------------------------- outdated rules
    P("x_travel_processing", "travel", "travel", "requests are processed within 5 business days",
      "How many days should I allow for OISS to process a travel signature?",
      "Plan for up to 10 business days; that's how long OISS takes to process travel signature "
      "requests.",
      "outdated_rule", "minor",
      "Since January 2025 requests are processed within 5 business days; 10 was the old time."),
    P("x_home_plan", "healthcare", "health-insurance",
      "plans from a student's home country are no longer accepted",
      "My parents' insurance in India covers me in the U.S. Can I use it to waive the student "
      "plan?",
      "Yes. A home-country plan qualifies for a waiver as long as it includes coverage in the "
      "U.S.; just submit the waiver form by the deadline.",
      "outdated_rule", "critical",
      "Since 2025-2026 home-country plans are no longer accepted; only U.S.-based plans qualify."),
    P("x_toefl", "admissions", "admissions", "TOEFL iBT score of at least 80",
      "What's the minimum TOEFL score for undergraduate applicants?",
      "Undergraduate applicants need a TOEFL iBT score of at least 79, or an IELTS band of 6.5.",
      "outdated_rule", "major",
      "The minimum is 80 for fall 2025 and later; 79 was the previous minimum."),
    P("x_gsa_gpa", "scholarships", "scholarships",
      "cumulative GPA of at least 3.0 and complete at least 24 credit hours",
      "What's the renewal GPA for the Global Scholars Award?",
      "You need to keep a cumulative GPA of at least 2.75 and complete 24 credit hours each "
      "academic year to renew it.",
      "outdated_rule", "critical",
      "Since 2025-2026 the renewal GPA is 3.0; 2.75 was the previous requirement."),
    P("x_late_fee", "tuition", "tuition-and-payment", "A late payment fee of $150",
      "How much will I be charged if I pay my tuition late?",
      "A late payment fee of $100 is charged if your balance isn't paid in full by the due date.",
      "outdated_rule", "major",
      "The late fee is $150; it was raised from $100 in 2025."),
    P("x_rcl_form", "course_load", "course-load",
      "RCL requests are submitted to OISS through the iPortal e-form",
      "Where do I file a reduced course load request?",
      "File the paper RCL form with the Registrar's office before the last day to drop classes.",
      "outdated_rule", "major",
      "Since 2025 RCL requests go to OISS through the iPortal e-form; the paper form with the "
      "Registrar was the old process."),
    # ----------------------------------------------------------------------- negated rules
    P("x_extension", "immigration", "immigration-status", "at least 30 days before that end date",
      "Can I still get a program extension after my I-20 has expired?",
      "Yes. OISS can extend your I-20 after it expires as long as you are still enrolled; just "
      "submit the request as soon as you notice.",
      "negated_rule", "critical",
      "An extension cannot be granted after the I-20 has expired; request it 30 days before."),
    P("x_walk_in", "travel", "travel", "Walk-in signatures are not offered",
      "I'm flying out tomorrow. Can I just stop by OISS for a travel signature?",
      "Yes. Come by during Tuesday or Thursday drop-in hours and a DSO will sign your I-20 on the "
      "spot.",
      "negated_rule", "major",
      "Walk-in signatures are not offered; use the iPortal e-form at least 2 weeks ahead."),
    P("x_remote_work", "work_authorisation", "work-authorisation",
      "Working off campus without authorization is a serious violation",
      "Is remote work for an employer in my home country allowed while I'm in the U.S.?",
      "Yes. Work for a foreign employer doesn't count as U.S. employment, so you can do it "
      "remotely without any authorization.",
      "negated_rule", "critical",
      "Work for employers outside the U.S. performed while in the country is unauthorized "
      "employment."),
    P("x_part_time_insurance", "healthcare", "health-insurance",
      "enrolled in at least 1 credit hour must have health insurance",
      "I'm a part-time graduate student. Is health insurance optional for me?",
      "Yes. Insurance is only mandatory for full-time students, so part-time students can decline "
      "the student health plan.",
      "negated_rule", "critical",
      "Every international student enrolled in at least 1 credit hour must have insurance."),
    P("x_grad_duolingo", "admissions", "admissions", "TOEFL iBT score of at least 90",
      "Can I submit a Duolingo score for my master's application?",
      "Yes. Graduate applicants can submit a Duolingo English Test score of 115 or higher instead "
      "of TOEFL or IELTS.",
      "negated_rule", "major",
      "The Duolingo English Test is not accepted for graduate admission."),
    P("x_ga_insurance", "scholarships", "scholarships",
      "a 100% tuition waiver and a stipend of $18,500",
      "Does my graduate assistantship cover my health insurance?",
      "Yes. Along with the full tuition waiver, assistantships pay the student health insurance "
      "charge for you.",
      "negated_rule", "major",
      "Assistantships do not cover the health insurance charge or the mandatory fees."),
    P("x_opt_transfer", "transfer", "transfer", "within your 60-day grace period",
      "Will my pending OPT application carry over if I transfer to another school?",
      "Yes. A pending OPT application moves with your SEVIS record to the new school, so you "
      "don't need to refile.",
      "negated_rule", "critical",
      "After the SEVIS release date any pending OPT application is cancelled."),
    # ------------------------------------------------------------------------ wrong entity
    P("x_insurance_contact", "healthcare", "oiss-office", "shio@northfield.edu or (555) 214-3950",
      "Who can help me with a question about my health insurance charge?",
      "Health insurance questions are handled by OISS. Email oiss@northfield.edu or call (555) "
      "214-3800.",
      "wrong_entity", "minor",
      "Insurance questions go to the Student Health Insurance Office (SHIO), not OISS: "
      "shio@northfield.edu, (555) 214-3950."),
    P("x_i20_issuer", "immigration", "immigration-status",
      "issued by a Designated School Official (DSO) at OISS",
      "Which office issues my I-20?",
      "Your I-20 is issued by the Office of Admissions as soon as you are admitted.",
      "wrong_entity", "major",
      "The I-20 is issued by a Designated School Official (DSO) at OISS."),
    P("x_opt_employer", "work_authorisation", "work-authorisation",
      "Report a new employer or a change of address within 10 days through the SEVP Portal",
      "Where do I report a new employer while I'm on OPT?",
      "Email the details to OISS at oiss-employment@northfield.edu within 10 days of starting.",
      "wrong_entity", "minor",
      "A new employer is reported through the SEVP Portal within 10 days."),
    P("x_appeal", "scholarships", "scholarships", "within 30 days of the cancellation notice",
      "Who do I appeal to if my scholarship is cancelled?",
      "Send your appeal to OISS within 30 days of the cancellation notice.",
      "wrong_entity", "major",
      "Appeals go to the Office of Student Financial Aid, not OISS."),
    P("x_accounts", "tuition", "tuition-and-payment", "Questions about charges and payments",
      "Who should I contact about a charge on my student account?",
      "Contact OISS at oiss@northfield.edu; they handle tuition charges and payments for "
      "international students.",
      "wrong_entity", "minor",
      "Charges and payments go to the Office of Student Accounts, accounts@northfield.edu."),
    P("x_transfer_eval", "transfer", "transfer", "grade of C or better",
      "Who evaluates my transfer credit?",
      "OISS evaluates transfer credit within 4 weeks of receiving your official transcripts.",
      "wrong_entity", "minor",
      "The Registrar evaluates transfer credit, not OISS."),
    # ------------------------------------------------------------------ over-generalisation
    P("x_grace", "immigration", "immigration-status", "the grace period is 15 days",
      "If I withdraw from my classes, do I still get a grace period?",
      "Yes, you always get a grace period when you leave your program: 60 days after you "
      "complete it, or 15 days if you withdraw.",
      "overgeneralisation", "critical",
      "Only an OISS-approved withdrawal gives 15 days; an unauthorized withdrawal gives none."),
    P("x_cpt_first_year", "work_authorisation", "work-authorisation",
      "after completing two full-time semesters (one academic year)",
      "I'm a first-year graduate student and my program requires an internship. Can I do CPT "
      "this summer?",
      "No. CPT is only available after you complete one full academic year in F-1 status, with "
      "no exceptions.",
      "overgeneralisation", "major",
      "Graduate programs that require a first-year internship are an exception to the one-year "
      "rule."),
    P("x_er", "healthcare", "health-insurance", "Emergency room visits have a $150 copay",
      "Do I always pay $150 when I go to the emergency room?",
      "Yes. Every emergency room visit has a flat $150 copay on the student plan.",
      "overgeneralisation", "minor",
      "The $150 ER copay is waived if you are admitted to the hospital."),
    P("x_english_waiver", "admissions", "admissions",
      "completed at least 2 years of full-time study",
      "I studied for one year at an English-medium university. Am I exempt from the English "
      "test?",
      "Yes. Any study at a school where English is the language of instruction waives the "
      "English test requirement.",
      "overgeneralisation", "major",
      "The waiver needs at least 2 years of full-time study in English."),
    P("x_combining", "scholarships", "scholarships",
      "total institutional aid cannot exceed the cost of tuition",
      "Can I hold the Presidential scholarship and the Global Scholars Award at the same time?",
      "Yes. Northfield scholarships can be combined without any limit, so you'd receive both "
      "awards in full.",
      "overgeneralisation", "major",
      "Awards can be combined, but total institutional aid cannot exceed the cost of tuition."),
    P("x_housing_guarantee", "housing", "housing",
      "guarantees on-campus housing to first-year international students",
      "Is on-campus housing guaranteed for all international students?",
      "Yes. Northfield guarantees on-campus housing to every international student, whenever "
      "they apply.",
      "overgeneralisation", "major",
      "Housing is guaranteed only to first-year international students who apply by the "
      "deadline."),
    P("x_summer", "course_load", "course-load", "Summer enrollment is not required unless",
      "Is summer enrollment always optional for F-1 students?",
      "Yes. F-1 students never need to enroll in the summer term.",
      "overgeneralisation", "major",
      "Summer enrollment is required when summer is your first term at Northfield."),
    # ---------------------------------------------------------------------- invented policy
    P("x_cpt_gpa", "work_authorisation", "work-authorisation",
      "a job offer letter, registration in a CPT course of at least 1 credit hour",
      "Are there any other requirements for CPT approval?",
      "Besides the job offer letter and the CPT course, you need a cumulative GPA of at least "
      "2.5, and the employer must be enrolled in E-Verify.",
      "invented_policy", "major",
      "CPT needs a job offer letter, a CPT course of at least 1 credit hour and advisor approval; "
      "no GPA minimum or E-Verify rule is stated."),
    P("x_counseling_fee", "healthcare", "health-insurance",
      "8 free individual sessions per academic year",
      "What happens after I use up my free counseling sessions?",
      "After your 8 free sessions, additional individual sessions cost $25 each for students on "
      "the NSHP.",
      "invented_policy", "minor",
      "The sources give 8 free sessions but state no fee for further sessions."),
    P("x_rcl_hardship", "course_load", "course-load", "initial academic difficulty in your first",
      "Can I get a reduced course load because I need to work more hours to pay my bills?",
      "Yes. OISS can approve an RCL for documented financial hardship, as long as you keep at "
      "least 6 credit hours.",
      "invented_policy", "critical",
      "RCL reasons are initial academic difficulty, a medical condition or the final semester "
      "only."),
    P("x_sat", "admissions", "admissions", "deadline is January 15",
      "Do international undergraduates need to submit SAT scores?",
      "Yes. International undergraduate applicants must submit SAT or ACT scores together with "
      "their English test by the January 15 deadline.",
      "invented_policy", "major",
      "The sources state no SAT or ACT requirement."),
    P("x_travel_notice", "travel", "travel", "at least 2 weeks before you leave",
      "Do I need to tell OISS before I travel abroad for spring break?",
      "Yes. You must register every trip abroad with OISS on the Travel Notification form at "
      "least 30 days before departure.",
      "invented_policy", "minor",
      "No travel notification rule exists; only a travel signature, requested 2 weeks ahead."),
    # ------------------------------------------------------------------- unsupported claims
    P("x_shuttle", "orientation", "orientation-arrival", "A free shuttle runs from Riverside",
      "Does the orientation shuttle also pick up at other airports?",
      "Yes. The free shuttle also picks up at Northfield Regional Airport on the same days.",
      "unsupported_claim", "minor",
      "The shuttle runs from Riverside International Airport only; no other airport is named."),
    P("x_flywire", "tuition", "tuition-and-payment", "through Flywire",
      "How does paying through Flywire work?",
      "Flywire lets you pay in your home currency; it charges no fees and payments reach your "
      "account within 24 hours.",
      "unsupported_claim", "minor",
      "The sources say Flywire accepts most home currencies; nothing about fees or a 24-hour "
      "arrival."),
    P("x_gsa_increase", "scholarships", "scholarships", "worth $8,000 per academic year",
      "Is the Global Scholars Award renewable?",
      "Yes, for up to 4 years, and the award grows by $500 each year you renew it.",
      "unsupported_claim", "major",
      "The award is $8,000 per year, renewable for up to 4 years; no yearly increase is stated."),
    P("x_zoom", "contacts", "oiss-office", "Tuesdays and Thursdays from 1:00 p.m. to 4:00 p.m.",
      "Can I do drop-in advising online?",
      "Yes. Drop-in advising is also offered over Zoom during the same Tuesday and Thursday "
      "hours.",
      "unsupported_claim", "minor",
      "The sources describe drop-in advising but say nothing about an online option."),
    # ------------------------------------------------- unanswerable, answered with confidence
    P("x_opt_processing", "work_authorisation", "work-authorisation",
      "up to 90 days before your program end date and no later than 60 days after it",
      "How long does USCIS take to approve an OPT application?",
      "USCIS approves OPT applications within 30 days, so your EAD card arrives about a month "
      "after you file.",
      "unanswerable", "major",
      "The sources give the filing window but say nothing about USCIS processing times.",
      truth=False),
    P("x_dental", "healthcare", "health-insurance", "the NSHP costs $1,425 per semester",
      "Does the student health plan cover dental cleanings?",
      "Yes. The NSHP covers two dental cleanings per year with no copay.",
      "unanswerable", "major",
      "The sources do not say anything about dental coverage.", truth=False),
    P("x_sibling", "tuition", "tuition-and-payment", "$1,240 per credit hour",
      "Is there a tuition discount if my sibling also studies at Northfield?",
      "Yes. Siblings enrolled at the same time each receive a 10% tuition discount.",
      "unanswerable", "major",
      "The sources mention no sibling discount.", truth=False),
    P("x_f2_classes", "immigration", "immigration-status",
      "A change of major, degree level or funding must be reported to OISS",
      "Can my spouse on an F-2 visa take classes at Northfield?",
      "Yes. F-2 spouses may enroll part time in up to 6 credit hours per semester.",
      "unanswerable", "major",
      "The sources do not cover F-2 dependants' study rights.", truth=False),
    P("x_rent", "housing", "housing", "cannot sign a lease for you or act as your guarantor",
      "What's the typical rent for an apartment near campus?",
      "A one-bedroom near campus rents for about $1,100 a month, and most leases last 12 "
      "months.",
      "unanswerable", "minor",
      "The sources say leases usually last 12 months but give no rent figures.", truth=False),
]

# Correct answers to questions the sources do not cover: the advisor says so and refers on.
DEFERRALS: list[tuple[str, str, str, str, str]] = [
    ("contacts", "oiss-office", "oiss@northfield.edu or (555) 214-3800",
     "Can my F-2 spouse work in the United States?",
     "The OISS guides here don't cover work rights for F-2 dependants, so I can't answer that "
     "reliably. Please ask an advisor at oiss@northfield.edu or (555) 214-3800."),
    ("contacts", "oiss-office", "oiss@northfield.edu or (555) 214-3800",
     "Is there a parking permit discount for international students?",
     "The materials I have don't mention parking permits. For general questions, contact OISS "
     "at oiss@northfield.edu or (555) 214-3800."),
]
