"""The demo report renders every section, escapes its text and embeds its figures."""

import base64
import re

import pytest

from symcl.demo.report import Figure, Metric, Section, new_figure, render_markdown, save_figure, write_report


@pytest.fixture
def sections(tmp_path):
    figure, ax = new_figure(figsize=(3, 2))
    ax.plot([0, 1], [1, 0])
    save_figure(figure, tmp_path / "part" / "line.png")
    return [
        Section(
            "dna <part>",
            "Strands & fragments.",
            [Metric("max |emb(x) - emb(rc x)|", "0.00e+00", "target <= 1e-5")],
            [Figure("part/line.png", "a line")],
            ["symcl dna embed x.fa -o out.npz"],
            1.5,
        ),
        Section("protein", "Trees.", [Metric("RF", "0.20")]),
    ]


def test_markdown_has_every_metric_and_escapes_table_pipes(sections):
    text = render_markdown("symcl demo", "preamble", sections)
    assert "| dna <part> | max \\|emb(x) - emb(rc x)\\| | 0.00e+00 | target <= 1e-5 |" in text
    assert "| protein | RF | 0.20 |  |" in text
    assert "![a line](part/line.png)" in text
    assert "```bash\nsymcl dna embed x.fa -o out.npz\n```" in text


def test_html_is_self_contained_and_escaped(sections, tmp_path):
    paths = write_report(tmp_path, "symcl demo", "preamble", sections)
    page = paths["report.html"].read_text()
    png = (tmp_path / "part" / "line.png").read_bytes()
    assert base64.b64encode(png).decode() in page
    assert "dna &lt;part&gt;" in page and "Strands &amp; fragments." in page
    assert not re.search(r"(src|href)=['\"]https?:", page)
    assert paths["report.md"].read_text().startswith("# symcl demo")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "part", "report.html", "report.md"]


@pytest.mark.parametrize(
    "path, name",
    [
        ("data/protein/globins45.aligned.fa", "globins45"),
        ("COX2_TM.fa", "COX2_TM"),
        ("/x/RRM_1.aligned.fasta.gz", "RRM_1"),
        ("PF00069.24.sto", "PF00069.24"),  # a dot inside the name stays
    ],
)
def test_a_family_is_named_by_its_file_without_format_suffixes(path, name):
    from symcl.demo.protein_part import _family_name

    assert _family_name(path) == name
