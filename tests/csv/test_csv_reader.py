"""The CSV format layer: encodings, line ends, quoting, header matching, and what counts as a broken file."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.sftp.csv_reader import (CsvFormatError, DropError, find_file, open_table, open_tables,
                                        parse_text)


def write(tmp_path: Path, data: bytes, name: str = "users.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rows(table) -> list:
    return list(table.rows)


def test_bom_crlf_and_quoted_newlines_keep_physical_line_numbers(tmp_path):
    data = ("\ufeff id , name ,city\r\n"
            "1,\"Ann\r\nMarie\",Oslo\r\n"           # row on lines 2-3
            "2,\"Lee, Bo\",\"Two\r\nline\r\ncity\"\r\n"  # lines 4-6
            "\r\n"                                   # line 7, blank
            "3,Cy,Rome\r\n").encode("utf-8")         # line 8
    table = open_table(write(tmp_path, data), ("id", "name", "city"))
    assert table.header == ("id", "name", "city")  # BOM gone, whitespace stripped
    assert rows(table) == [(2, ("1", "Ann\nMarie", "Oslo")),   # CRLF inside quotes read as one "\n"
                           (4, ("2", "Lee, Bo", "Two\nline\ncity")),
                           (8, ("3", "Cy", "Rome"))]


def test_lf_file_without_bom_and_without_final_newline(tmp_path):
    table = open_table(write(tmp_path, b"id,name\n1,\"a\nb\"\n2,c"), ("name", "id"))
    assert rows(table) == [(2, ("a\nb", "1")), (4, ("c", "2"))]  # values follow the asked order


def test_unknown_columns_ignored_and_missing_optional_reads_blank(tmp_path):
    data = b"ext_x,sourcedId,metadata.y,givenName\nq,u1,r,Ann\n"
    table = open_table(write(tmp_path, data), ("sourcedId", "givenName", "email"), optional={"email"})
    assert rows(table) == [(2, ("u1", "Ann", ""))]
    assert table.present == {"sourcedId", "givenName"}
    assert table.has("givenName") and not table.has("email")


def test_missing_required_column_names_file_line_and_column(tmp_path):
    with pytest.raises(CsvFormatError) as err:
        open_table(write(tmp_path, b"sourcedId,givenNmae\n1,Ann\n"), ("sourcedId", "givenName"))
    exc = err.value
    assert (exc.file, exc.line, exc.column) == ("users.csv", 1, "givenName")
    assert str(exc) == "users.csv, line 1: missing required column 'givenName'"
    assert isinstance(exc, DropError)


def test_every_missing_required_column_is_listed(tmp_path):
    with pytest.raises(CsvFormatError, match="missing required columns 'b', 'c'"):
        open_table(write(tmp_path, b"a\n1\n"), ("a", "b", "c"))


def test_a_wanted_column_twice_is_ambiguous(tmp_path):
    with pytest.raises(CsvFormatError) as err:
        open_table(write(tmp_path, b"id,role,role\n1,a,b\n"), ("id", "role"))
    assert err.value.column == "role" and "more than once" in str(err.value)


def test_an_unwanted_column_twice_is_harmless(tmp_path):
    table = open_table(write(tmp_path, b"id,x,x\n1,a,b\n"), ("id",))
    assert rows(table) == [(2, ("1",))]


@pytest.mark.parametrize("data,line", [
    (b"id,name\n1,Ann\n2,Bj\xf6rn\n", 3),          # Latin-1 o-umlaut
    (b"id,name\n1,\"An\nn\"\n2,\xff\n", 4),        # the quoted newline counts
])
def test_bytes_that_are_not_utf8_name_the_line(tmp_path, data, line):
    with pytest.raises(CsvFormatError) as err:
        open_table(write(tmp_path, data), ("id",))
    assert err.value.line == line and "UTF-8" in str(err.value)


def test_bad_byte_far_into_a_big_file_names_its_line(tmp_path):
    # past the reader's 1 MiB chunk, and a valid 2-byte character split across the chunk boundary
    head = b"id,name\n" + b"1,abcdefghij\n" * 80_000  # 1.04 MB, lines 2..80001
    split = b"x" * ((1 << 20) - len(head) % (1 << 20) - 1)
    data = head + b"2," + split[:-2] + b"\xc3\xa9\n" + b"3,ok\n" * 10 + b"4,\xc3(\n"
    path = write(tmp_path, data)
    with pytest.raises(CsvFormatError) as err:
        open_table(path, ("id",))
    assert err.value.line == 80_002 + 1 + 10


def test_nul_byte_is_refused_with_its_line(tmp_path):
    with pytest.raises(CsvFormatError) as err:
        open_table(write(tmp_path, b"id,name\n1,a\n2,b\x00c\n"), ("id",))
    assert err.value.line == 3 and "NUL" in str(err.value)


def test_utf16_file_is_refused(tmp_path):
    with pytest.raises(CsvFormatError, match="is UTF-16 text"):  # with its byte order mark
        open_table(write(tmp_path, "id,name\n1,a\n".encode("utf-16")), ("id",))
    with pytest.raises(CsvFormatError, match="NUL"):  # without one, its NUL bytes give it away
        open_table(write(tmp_path, "id,name\n1,a\n".encode("utf-16-le")), ("id",))


def test_truncated_file_inside_a_quote_names_the_line_where_the_quote_opened(tmp_path):
    table = open_table(write(tmp_path, b"id,name\n1,a\n2,\"Ann\nMar"), ("id", "name"))
    it = table.rows
    assert next(it) == (2, ("1", "a"))
    with pytest.raises(CsvFormatError) as err:
        next(it)
    assert err.value.line == 3 and "never closed" in str(err.value)


def test_text_after_a_closing_quote_is_malformed(tmp_path):
    table = open_table(write(tmp_path, b"id,name\n1,\"Ann\"x\n"), ("id",))
    with pytest.raises(CsvFormatError) as err:
        rows(table)
    assert err.value.line == 2 and "quoting" in str(err.value)


def test_empty_file_has_no_header(tmp_path):
    with pytest.raises(CsvFormatError) as err:
        open_table(write(tmp_path, b""), ("id",))
    assert err.value.line == 1 and "header" in str(err.value)


def test_a_row_with_the_wrong_field_count_is_a_problem_and_the_rest_is_read(tmp_path):
    data = b"id,name,city\n1,a,x\n2,Smith, Jr.,y\n3,c\n4,d,z\n"
    table = open_table(write(tmp_path, data), ("id", "city"))
    assert rows(table) == [(2, ("1", "x")), (5, ("4", "z"))]
    assert [(p.code, p.line, p.file) for p in table.problems] == [
        ("wrong_field_count", 3, "users.csv"), ("wrong_field_count", 4, "users.csv")]
    assert "4 fields but the header has 3" in table.problems[0].message
    assert "Smith" not in table.problems[0].message  # no cell values in messages


def test_trailing_empty_fields_and_blank_named_header_columns_are_tolerated(tmp_path):
    # the v1p2 sample's roles.csv: header ends "orgSourcedId,,", rows stop at orgSourcedId
    data = b"id,org,,\n1,o1\n2,o2,,\n3,o3,,,\n"
    table = open_table(write(tmp_path, data), ("id", "org"))
    assert rows(table) == [(2, ("1", "o1")), (3, ("2", "o2")), (4, ("3", "o3"))]
    assert table.problems == []


def test_a_longer_row_with_data_past_the_header_is_a_problem(tmp_path):
    table = open_table(write(tmp_path, b"id,org\n1,o1,oops\n"), ("id",))
    assert rows(table) == [] and table.problems[0].line == 2


def test_missing_file_is_a_format_error(tmp_path):
    with pytest.raises(CsvFormatError, match="not found"):
        open_table(tmp_path / "nope.csv", ("id",))


def test_parse_text_behaves_like_a_file():
    table = parse_text("\ufeffa,b\r\n1,\"x\r\ny\"\r\n", "t.csv", ("b", "a"))
    assert rows(table) == [(2, ("x\ny", "1"))]


def test_open_tables_reports_every_broken_header_at_once(tmp_path):
    a = write(tmp_path, b"x\n", "a.csv")
    b = write(tmp_path, b"y\n", "b.csv")
    c = write(tmp_path, b"z\n", "c.csv")
    with pytest.raises(DropError) as err:
        open_tables([(a, ("x",), ()), (b, ("q",), ()), (c, ("r",), ())])
    assert [(e.file, e.column) for e in err.value.errors] == [("b.csv", "q"), ("c.csv", "r")]
    assert str(err.value).startswith("2 files cannot be read: b.csv, line 1: missing required column 'q'")


def test_find_file_accepts_a_different_case_only_when_unambiguous(tmp_path):
    write(tmp_path, b"x\n", "Users.csv")
    assert find_file(tmp_path, "users.csv").name == "Users.csv"
    write(tmp_path, b"x\n", "USERS.csv")
    assert find_file(tmp_path, "users.csv") is None
    assert find_file(tmp_path, "orgs.csv") is None


def test_pandas_line_numbers_agree_with_ours_on_the_benchmark_file(tmp_path):
    """The benchmark's two paths must do the same work; this also checks our line numbers against an
    independent count (pandas rows + newlines inside cells)."""
    from bench_csv_reader import HEADER, generate, with_pandas, with_stdlib
    path = tmp_path / "users.csv"
    generate(path, 3000)  # rows 0 and 997 and 1994 ... carry a quoted newline
    ours = with_stdlib(path, HEADER)
    assert len(ours) == 3000 and ours[-1][0] == 3000 + 1 + 4  # 4 quoted newlines before the last row
    assert ours == with_pandas(path, HEADER)


def test_paused_gc_restores_the_collector_as_it_was():
    import gc
    from connectors.sftp.csv_reader import paused_gc
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with paused_gc():
            assert not gc.isenabled()
            raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


@pytest.mark.parametrize("before", [0, 10, (1 << 20) - 40, (1 << 20) + 7])
def test_a_line_over_the_limit_is_refused_wherever_it_falls_against_the_read_chunks(tmp_path, before):
    # The encoding pass screens line lengths per 1 MiB chunk; a long line that straddles a chunk's edge,
    # or starts right after one, must still reach the bounded reader and be refused with its line.
    from connectors.sftp.csv_reader import MAX_LINE

    filler = b"1,a\n" * (before // 4)
    data = b"id,name\n" + filler + b"2," + b"x" * MAX_LINE + b"\n3,c\n"
    table = open_table(write(tmp_path, data), ("id", "name"))
    with pytest.raises(CsvFormatError, match="longer than") as caught:
        rows(table)
    assert caught.value.line == 2 + before // 4


def test_a_line_just_within_the_limit_is_read_like_any_other(tmp_path):
    from connectors.sftp.csv_reader import MAX_LINE, check_encoding

    # ten cells (each under the csv module's field limit) and the line break: exactly MAX_LINE characters
    cells = [b"x" * ((MAX_LINE - 10) // 10)] * 9
    last = b"y" * (MAX_LINE - 10 - sum(map(len, cells)))
    line = b",".join([*cells, last]) + b"\n"
    assert len(line) == MAX_LINE
    header = b",".join(b"c%d" % i for i in range(10)) + b"\n"
    path = write(tmp_path, header + b"1" + b",a" * 9 + b"\n" + line + b"3" + b",c" * 9 + b"\n")
    got = rows(open_table(path, ("c0", "c9")))
    assert got == [(2, ("1", "a")), (3, (cells[0].decode(), last.decode())), (4, ("3", "c"))]
    # ordinary files are screened as short-lined, so their rows are read without the per-line bound
    assert check_encoding(write(tmp_path, b"id,name\n" + b"1,a\n" * 300_000, "plain.csv"), "plain.csv") is False
    assert check_encoding(path, "users.csv") is False
    longer = write(tmp_path, header + line.replace(b"y", b"yy", 1), "longer.csv")
    assert check_encoding(longer, "longer.csv") is True
