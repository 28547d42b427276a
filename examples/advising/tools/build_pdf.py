"""Build ``sources/tuition-and-payment.pdf`` for the fictional Northfield University example.

Run from the repository root: ``python examples/advising/tools/build_pdf.py``.

The text is plain ASCII in the core Helvetica font so that pypdf extracts it cleanly. pypdf puts
no blank line between paragraphs, so each section (title line + paragraph) is written as one
block and sections are separated by a line holding only a space: pypdf extracts that as a blank
line, which is where ``core.sources.chunk_text`` splits blocks. Every section is long enough
(over 450 characters) that two never share a 900-character passage, so each section is exactly
one passage: ``tuition-and-payment#0`` is the title and introduction, ``#1`` the first section.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from fpdf import FPDF

OUT = Path(__file__).resolve().parents[1] / "sources" / "tuition-and-payment.pdf"

FIXED_DATE = datetime(2025, 7, 1, tzinfo=timezone.utc)

TITLE = "Tuition and Payment Guide 2025-2026"

INTRO = (
    "This guide from the Office of Student Accounts explains tuition, fees and payment "
    "deadlines for international students at Northfield University, a fictional university. "
    "Charges are posted to your student account in the Student Information System about 3 "
    "weeks before each payment deadline. Questions about charges and payments go to the Office "
    "of Student Accounts at accounts@northfield.edu or (555) 214-3700. The office is open "
    "Monday to Friday from 8:00 a.m. to 4:30 p.m. and is located on the first floor of Keller "
    "Hall, next to the Registrar."
)

SECTIONS: list[tuple[str, str]] = [
    (
        "Tuition rates",
        "Undergraduate tuition for 2025-2026 is $1,240 per credit hour. Undergraduates enrolled "
        "in 12 to 18 credit hours pay a flat rate of $18,600 per semester; each credit hour above "
        "18 is charged at the per-credit rate. Graduate tuition is $1,480 per credit hour, with "
        "no flat rate. Summer courses are charged per credit hour for all students. Tuition rates "
        "are set by the Board of Trustees each spring and may change for the next academic year. "
        "International students pay the same tuition rates as out-of-state domestic students.",
    ),
    (
        "Mandatory fees",
        "Every international student pays an International Student Services fee of $175 per "
        "semester, which funds OISS advising and SEVIS reporting. All students also pay a Student "
        "Activity fee of $95 per semester and a Technology fee of $120 per semester. New "
        "international students pay a one-time orientation fee of $150 in their first semester. "
        "The health insurance charge for the Northfield Student Health Plan is billed separately "
        "and can be removed only through an approved waiver from the Student Health Insurance "
        "Office.",
    ),
    (
        "Payment deadlines",
        "Fall 2025 charges are due on August 20, 2025. Spring 2026 charges are due on January 10, "
        "2026, and summer 2026 charges are due on May 15, 2026. Charges added after the deadline, "
        "such as a late course addition, are due 14 days after they are posted. A payment counts "
        "as received on the date the funds reach your student account, not the date you send "
        "them, so international transfers should be started at least 10 days before the "
        "deadline.",
    ),
    (
        "Late payment and holds",
        "A late payment fee of $150 is charged once per semester if the balance is not paid in "
        "full by the due date. The late fee was raised from $100 in 2025. If a balance of more "
        "than $500 is still unpaid 30 days after the due date, a registration hold is placed on "
        "the account, and you cannot register for the next term or request an official "
        "transcript until the balance is paid. OISS cannot remove a financial hold, and a late fee "
        "is not waived because an international wire transfer arrived late.",
    ),
    (
        "Payment plan",
        "The Northfield Payment Plan divides each semester's charges into 4 monthly instalments "
        "with no interest. Enrolment in the plan costs $40 per semester and must be completed no "
        "later than the payment deadline for that semester. A missed instalment is charged a $30 "
        "fee. The first instalment is due at enrolment. The payment plan does not cover the "
        "housing deposit, which must be paid in full with the housing application. A student who "
        "misses two instalments is removed from the plan, and the whole remaining balance "
        "becomes due at once.",
    ),
    (
        "How to pay",
        "International students can pay by international wire transfer through Flywire, which "
        "accepts payment in most home currencies, or by U.S. bank transfer (ACH) at no cost. "
        "Credit and debit card payments carry a 2.85% service fee. Cash payments are not "
        "accepted. Include your 8-digit Northfield ID number with every payment so that it can be "
        "matched to your account. Sponsored students whose government or employer pays tuition "
        "must send the sponsor's letter to accounts@northfield.edu before the deadline.",
    ),
    (
        "Refunds after withdrawal",
        "If you withdraw from all classes during a fall or spring semester, tuition is refunded "
        "as follows: 100% through the end of the first week of classes, 75% during the second "
        "week, 50% during the third week and 25% during the fourth week. No tuition is refunded "
        "after the fourth week. Fees are not refunded after the first week. International "
        "students must talk to OISS before withdrawing, because withdrawal affects F-1 status.",
    ),
]


def build(out: Path = OUT) -> Path:
    """Write the PDF and return its path."""
    pdf = FPDF(format="letter")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_title(TITLE)
    pdf.set_author("Northfield University Office of Student Accounts (fictional)")
    pdf.set_creation_date(FIXED_DATE)  # fixed, so rebuilding gives the same bytes
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 9, TITLE, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, INTRO, new_x="LMARGIN", new_y="NEXT")
    for heading, body in SECTIONS:
        _blank_line(pdf)
        pdf.set_font("Helvetica", "B", 12)
        pdf.multi_cell(0, 7, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 6, body, new_x="LMARGIN", new_y="NEXT")
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))
    return out


def _blank_line(pdf: FPDF) -> None:
    """A line holding one space: invisible, but pypdf extracts it as a paragraph break."""
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(0, 6, " ", new_x="LMARGIN", new_y="NEXT")


if __name__ == "__main__":
    print(build())
