"""Printed invitations: one page per guardian with the join code and instructions, as HTML or PDF.

For families without a usable email or phone, or for a school that hands invitations out at a
parents' evening. Each page names one guardian and their own children only.
"""

from __future__ import annotations

from jinja2 import Environment

from messaging.compose import Letter, print_page
from messaging.pdf import render_pdf

_PAGE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Invitations: {{ district }}</title>
<style>
  body { font-family: Helvetica, Arial, sans-serif; margin: 0; }
  .page { padding: 2.5cm; page-break-after: always; break-after: page; }
  .page:last-child { page-break-after: auto; break-after: auto; }
  h1 { font-size: 20pt; margin: 0 0 1em; }
  .code { font: bold 26pt monospace; letter-spacing: .1em; border: 2px solid #000; padding: .3em .6em;
          display: inline-block; margin: .4em 0; }
  p, li { font-size: 12pt; line-height: 1.5; }
  @media screen { .page { border-bottom: 1px dashed #999; } }
</style></head><body>
{% for page in pages %}<section class="page">
  <h1>{{ page.district }}</h1>
  <p>For: <strong>{{ page.guardian_name or "the parent or guardian" }}</strong>{% if page.children %} of {{ page.children | join(", ") }}{% endif %}</p>
  <p>{{ page.schools | join(", ") if page.schools else "Your school" }} sends news, reminders and messages from teachers through our family messaging service. Join to receive them.</p>
  <ol>
    <li>Open <strong>{{ page.join_url }}</strong></li>
    <li>Enter your join code:<br><span class="code">{{ page.join_code }}</span></li>
    <li>Choose how you want to be reached (email or text).</li>
  </ol>
  <p>The code is yours alone: please keep it private.</p>
</section>
{% endfor %}</body></html>
""")


def render_html(letters: list[Letter]) -> str:
    district = letters[0].district if letters else ""
    return _PAGE.render(pages=letters, district=district)


def render_invitations_pdf(letters: list[Letter]) -> bytes:
    pages = []
    for letter in letters:
        lines = print_page(letter)
        page = [(lines[0], "F2", 18)]
        for line in lines[1:]:
            bold = line.strip() == (letter.join_code or "")
            page.append((line, "F2" if bold else "F1", 20 if bold else 12))
        pages.append(page)
    return render_pdf(pages)
