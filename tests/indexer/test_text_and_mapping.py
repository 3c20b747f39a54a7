import re
import time
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql

from awsm.errors import ConfigError
from indexer.changes import Batch, add_record
from indexer.documents import fill_url, row_to_document
from indexer.links import TermLink
from indexer.mapping import load_mapping
from indexer.pgoutput import Begin, Change, Commit
from indexer.text import html_to_text, plain_text
from search_svc.tenants import SearchSwitch, SearchTypes, TenantDomains


def test_html_to_text_drops_markup_scripts_and_decodes_entities() -> None:
    html = "<h1>Judul</h1><p>Kopi &amp; teh<br>enak</p><script>alert(1)</script><style>p{}</style>"
    assert html_to_text(html) == "Judul\nKopi & teh\nenak"
    assert html_to_text("plain text") == "plain text"
    assert html_to_text("<p>a</p><p>b</p>") == "a\nb"


# markup's own characters, often, among any others; no "&": an entity such as &lt;b&gt;
# rightly decodes to text that looks like a tag
_MARKUPISH = st.text(alphabet=st.sampled_from(list("<>/!?-='\" abscriptyle\n")) |
                     st.characters(blacklist_characters="&"), max_size=300)


def test_plain_text_keeps_every_character_but_controls_and_extra_whitespace() -> None:
    assert plain_text('Why <script> in a "Title"') == 'Why <script> in a "Title"'
    assert plain_text("  Kopi &amp;\tTeh\u0085\x01susu\x9f \n") == "Kopi &amp; Teh susu"
    assert plain_text("\x00\x1b") == ""


@given(_MARKUPISH)
@settings(max_examples=300)
def test_html_to_text_never_raises_and_never_leaves_a_tag(value: str) -> None:
    # what a browser would read as the start of a tag is markup: never text
    assert not re.search(r"</?[A-Za-z]", html_to_text(value))


class _Reference(HTMLParser):
    """html_to_text as it was, on the standard library's parser: the oracle for
    well-formed HTML (it is quadratic on unterminated markup, hence the rewrite)."""

    BLOCK = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
             "td", "th", "table", "section", "article", "blockquote", "pre", "figure",
             "figcaption", "header", "footer", "hr"}
    SKIP = {"script", "style", "template", "noscript", "svg", "iframe"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)

    @classmethod
    def text(cls, value: str) -> str:
        if "<" not in value and "&" not in value:
            return value.strip()
        parser = cls()
        parser.feed(value)
        parser.close()
        text = re.sub(r"[ \t\r\f\v]+", " ", "".join(parser.parts))
        lines = "\n".join(line.strip() for line in text.split("\n"))
        return re.sub(r"\n\s*\n+", "\n", lines).strip()


_WORDS = st.sampled_from(["kopi", "teh", " ", "Kopi  enak", "a < b", "x > y", "&amp;", "&lt;b&gt;",
                          "&#233;", "caf&eacute;", "&nbsp;", "\n", "tanda \"kutip\"", "it's"])
_ATTRS = st.sampled_from(["", ' class="x"', " title='a > b'", ' data-x="1>2" id=y', " hidden",
                          ' href="/a?b=1&amp;c=2"'])


def _element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    tags = st.sampled_from(["p", "div", "b", "span", "h1", "li", "td", "svg", "template", "a"])
    return st.one_of(
        st.tuples(tags, _ATTRS, st.lists(children, max_size=4)).map(
            lambda t: f"<{t[0]}{t[1]}>{''.join(t[2])}</{t[0]}>"),
        st.sampled_from(["<br>", "<br/>", "<hr>", "<img src='x.jpg' alt=\"a>b\">",
                         "<!-- komentar <p>x</p> -->", "<!DOCTYPE html>",
                         "<script>if (a < b && c > d) { x('</p>') }</script>",
                         "<style>p > b { color: red }</style>", "<SCRIPT type=x>y</SCRIPT>"]))


_HTML = st.recursive(_WORDS, lambda inner: st.lists(st.one_of(inner, _element(inner)),
                                                    max_size=5).map("".join), max_leaves=30)


@given(_HTML)
@settings(max_examples=400)
def test_html_to_text_reads_well_formed_html_as_the_standard_parser_does(value: str) -> None:
    assert html_to_text(value) == _Reference.text(value)


@pytest.mark.parametrize("unit", ["<a ", '<a href="', "<!--", "</", "<?", "<!", "<a ='=\"",
                                  "<script>", "<p", "</3"])
def test_html_to_text_is_linear_on_unterminated_markup(unit: str) -> None:
    # 40 kB of '<a ' took 9 s in html.parser, which held up every tenant's indexing.
    # A complexity check, not a speed goal: 4x the input must not cost ~16x the time.
    def seconds(size: int) -> float:
        value = "kopi " + unit * (size // len(unit))
        started = time.perf_counter()
        html_to_text(value)
        return time.perf_counter() - started

    small = min(seconds(250_000) for _ in range(3))
    large = min(seconds(1_000_000) for _ in range(3))
    assert large < 10 * small + 0.05, (small, large)


def test_unterminated_markup_hides_the_rest_as_a_browser_does() -> None:
    assert html_to_text("kopi <a href='x tail") == "kopi"
    assert html_to_text("kopi <!-- never closed <p>teh") == "kopi"
    assert html_to_text("kopi <script>alert(1) teh") == "kopi"
    assert html_to_text("1 < 2 and </3> <p>teh</p>") == "1 < 2 and\nteh"


@pytest.mark.parametrize(("slug", "url"), [
    ("kopi-tubruk", "/blogs/kopi-tubruk"),
    ("tentang/tim", "/blogs/tentang/tim"),  # nested slugs keep their '/'
    ("kopi énak", "/blogs/kopi%20%C3%A9nak"),
    ("?x=1#frag", "/blogs/%3Fx%3D1%23frag"),
    ('"onmouseover=alert(1)', "/blogs/%22onmouseover%3Dalert%281%29"),
    ("\\evil.example", "/blogs/%5Cevil.example"),
])
def test_url_placeholders_are_percent_encoded(slug: str, url: str) -> None:
    assert fill_url("/blogs/{slug}", {"slug": slug}) == url


@pytest.mark.parametrize("values", [{"slug": None}, {"slug": ""}, {}])
def test_a_row_without_its_url_values_gets_no_url(values: dict[str, object]) -> None:
    assert fill_url("/blogs/{slug}", values) == ""  # not "/blogs/", the listing page
    assert fill_url("/static", {}) == "/static"


@pytest.mark.parametrize("slug", ["//evil.example/x", "/\\evil.example", "///x", "javascript:alert(1)"])
def test_a_slug_never_makes_a_link_to_another_site(slug: str) -> None:
    url = fill_url("/{slug}", {"slug": slug})
    assert url.startswith("/") and not url.startswith("//") and ":" not in url and "\\" not in url
    assert fill_url("https://kopi.example/{slug}", {"slug": slug}).startswith("https://kopi.example/")


def test_default_mapping_covers_awcms_tables() -> None:
    m = load_mapping(None)
    assert [d.table for d in m.documents] == ["blogs", "pages", "products"]
    blogs = m.source("blogs")
    assert blogs is not None and blogs.visibility.flags == ("is_active", "is_public")
    products = m.by_type("product")
    assert products is not None and products.title == "name"
    # AWCMS sells a product while its status is "active"; products have no flags
    assert (products.visibility.published_values, products.visibility.flags) == (("active",), ())
    # AWCMS's public routes: /blogs/<slug>, /p/<slug> for pages, /products/<slug>
    assert [d.url for d in m.documents] == ["/blogs/{slug}", "/p/{slug}", "/products/{slug}"]
    assert m.tables[-2:] == ("tenants", "categories")


def test_row_to_document_fills_url_template_and_skips_invisible_rows() -> None:
    src = load_mapping(None).source("blogs")
    assert src is not None
    row = ("id1", "t1", "Kopi & <Tanpa Gula>\n ", "<p>isi &amp; <b>rasa</b></p>", None,
           ["a", "", "a"], "Kat", "id", None, 5, True, "judul-1")
    doc = row_to_document(src, row)
    assert doc is not None
    # the title is plain text, as AWCMS shows it (escaped); the body is HTML
    assert (doc.key, doc.url, doc.title, doc.body, doc.tags) == (
        "blog:id1", "/blogs/judul-1", "Kopi & <Tanpa Gula>", "isi & rasa", ("a",))
    assert row_to_document(src, row[:10] + (False,) + row[11:]) is None


def test_a_plain_text_body_keeps_what_html_would_read_as_markup() -> None:
    blogs = load_mapping(None).source("blogs")
    assert blogs is not None
    src = replace(blogs, body_format="text", summary_format="text",
                  url="/blog/{tenant.code}/{slug}")
    assert src.url_columns == ("tenant.code", "slug") and src.tenant_url_columns == ("code",)
    assert "code" not in src.columns() and "slug" in src.columns()
    row = ("id1", "t1", "Judul", "pakai <script> di\tHTML, x<y & a&amp;b", "1 < 2",
           (), None, "id", None, 5, True, "kopi nusantara", "judul-1")
    doc = row_to_document(src, row)
    assert doc is not None
    assert (doc.body, doc.summary) == ("pakai <script> di HTML, x<y & a&amp;b", "1 < 2")
    assert doc.url == "/blog/kopi%20nusantara/judul-1"


def test_required_columns_hide_rows_in_sql(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(_DOC + "url = '/b/{tenant.code}'\n"
                    "visibility = { require = { visibility = ['public', 'members'] } }\n")
    src = load_mapping(path).documents[0]
    assert src.visibility.require == (("visibility", ("public", "members")),)
    text = load_mapping(path).select_documents(src, sql.SQL("TRUE")).as_string(None)
    assert """"d"."visibility"::text = ANY('{public,members}')""" in text
    assert '"t"."code"::text' in text


_DOC = "[[documents]]\ntable = 'blogs'\ntype='blog'\nid='id'\ntenant='t'\ntitle='t'\n"


@pytest.mark.parametrize("text, problem", [
    ("[[documents]]\ntable = 'x; drop'\ntype='blog'\nid='id'\ntenant='t'\ntitle='t'", "not a valid"),
    ("[[documents]]\ntable = 'blogs'\ntype='Blog Post'\nid='id'\ntenant='t'\ntitle='t'", "type"),
    ("[[documents]]\ntable = 'blogs'\ntype='blog'\nid='id'\ntenant='t'\ntitle='t'\ncolour='red'", "unknown key"),
    ("tenants = 1\n", "documents"),
    ("not toml [", "not valid TOML"),
    # a misspelt visibility rule would drop it and make hidden rows public
    (_DOC + "visibility = { status = 'status', deleted = 'deleted_at' }", "visibility.deleted"),
    (_DOC + "visibility = { flag = ['is_public'] }", "visibility.flag"),
    (_DOC + "visibility = { rule = 'public_only' }", "visibility.rule"),
    (_DOC + "visibility = 'public'", "visibility: expected a table"),
    (_DOC + "visibility = { flags = 'is_public' }", "expected a list"),
    # "false" (a string) is no boolean: a typo must not drop the rule
    (_DOC + "visibility = { published_at_required = 'false' }", "expected true or false"),
    ("[tenants]\nactive_values = 'active'\n" + _DOC, "tenants.active_values: expected a list"),
    ("[tenants]\nslug = ['slug']\n" + _DOC, "tenants.slug"),
    ("[tenant]\nslug = 'name'\n" + _DOC, "tenant: unknown section"),
    ("[[document]]\ntable = 'pages'\n" + _DOC, "document: unknown section"),
    # only columns a schema may lack can be left empty
    ("[tenants]\nslug = ''\n" + _DOC, "tenants.slug"),
    ("[categories]\nname = ''\n" + _DOC, "categories.name"),
    ("[categories]\ntenant = 'tenant_id; drop'\n" + _DOC, "categories.tenant"),
    ("[categories]\ntenant = ['tenant_id']\n" + _DOC, "categories.tenant"),
    # an extra visibility column: a list of its public values, never an empty one
    (_DOC + "visibility = { require = { visibility = [] } }", "would hide every row"),
    (_DOC + "visibility = { require = { visibility = 'public' } }", "expected a list"),
    (_DOC + "visibility = { require = ['visibility'] }", "visibility.require: expected a table"),
    (_DOC + "visibility = { require = { 'v; drop' = ['public'] } }", "not a valid"),
    (_DOC + "body_format = 'markdown'", "body_format: expected"),
    (_DOC + "summary_format = true", "summary_format: expected"),
    # host names in a table of their own: a table, with known keys
    ("[tenants]\ndomains = 'tenant_domains'\n" + _DOC, "tenants.domains: expected"),
    ("[tenants]\ndomains = { host = 'hostname' }\n" + _DOC, "tenants.domains.table: the"),
    ("[tenants]\ndomains = { table = 'd', hostname = 'h' }\n" + _DOC,
     "tenants.domains.hostname: unknown key"),
    ("[tenants]\ndomains = { table = 'd; drop' }\n" + _DOC, "tenants.domains.table"),
    # tables where a tenant turns its search off: a list of tables, each naming its table
    ("[tenants]\nsearch_switches = 'modules'\n" + _DOC, "tenants.search_switches: expected"),
    ("[tenants]\nsearch_switches = ['modules']\n" + _DOC, "tenants.search_switches: expected"),
    ("[tenants]\nsearch_switches = [{ enabled = 'on' }]\n" + _DOC,
     "tenants.search_switches[0].table: required"),
    ("[tenants]\nsearch_switches = [{ table = 's' }, { table = 's', enable = 'e' }]\n" + _DOC,
     "tenants.search_switches[1].enable: unknown key"),
    ("[tenants]\nsearch_switches = [{ table = 's', enabled = 'on; drop' }]\n" + _DOC,
     "tenants.search_switches[0].enabled: 'on; drop' is not a valid"),
    ("[tenants]\nsearch_switches = [{ table = 's', require = { module_key = [] } }]\n" + _DOC,
     "tenants.search_switches[0].require.module_key: an empty list"),
    # where a tenant says which types its public search shows: a table, names to types
    ("[tenants]\nsearch_types = 'settings'\n" + _DOC, "tenants.search_types: expected a table"),
    ("[tenants]\nsearch_types = { column = 'types' }\n" + _DOC,
     "tenants.search_types.table: required"),
    ("[tenants]\nsearch_types = { table = 's', colum = 'types' }\n" + _DOC,
     "tenants.search_types.colum: unknown key"),
    ("[tenants]\nsearch_types = { table = 's', column = 'types[1]' }\n" + _DOC,
     "tenants.search_types.column: 'types[1]' is not a valid"),
    ("[tenants]\nsearch_types = { table = 's', names = ['blog_post'] }\n" + _DOC,
     "tenants.search_types.names: expected a table of names"),
    ("[tenants]\nsearch_types = { table = 's', names = { blog_post = 1 } }\n" + _DOC,
     "tenants.search_types.names: expected a table of names"),
    ("[tenants]\nsearch_types = { table = 's', names = { blog_post = 'blg' } }\n" + _DOC,
     "tenants.search_types.names: 'blg' is not a document type of this mapping (blog)"),
    # values through a link table: the four names it takes, and no unknown key
    (_DOC + "tags = { link = 'lk', row = 'post_id', term = 'term_id' }", "tags.table: required"),
    (_DOC + "tags = { link = 'lk', row = 'r', term = 't', table = 'x', colour = 'c' }",
     "documents[0].tags.colour: unknown key"),
    (_DOC + "category = { link = 'lk; drop', row = 'r', term = 't', table = 'x' }",
     "documents[0].category.link: 'lk; drop' is not a valid"),
    (_DOC + "tags = { link = 'lk', row = 'r', term = 't', table = 'x', require = { k = [] } }",
     "tags.require.k: an empty list"),
    # the image from the row a column points at: three names it takes, no link keys
    (_DOC + "image = { column = 'media_id', table = 'media' }", "image.value: required"),
    (_DOC + "image = { column = 'm', table = 'media', value = 'url', name = 'n' }",
     "documents[0].image.name: unknown key"),
    (_DOC + "image = { column = 'm', table = 'media', value = 'url; drop' }",
     "image.value: 'url; drop' is not a valid"),
    # only the tenant's columns can be named through a dot
    (_DOC + "url = '/blog/{category.slug}/{slug}'", "{category.slug} is not a placeholder"),
    (_DOC + "url = '/blog/{tenant.}/{slug}'", "{tenant.} is not a placeholder"),
    (_DOC + "url = '/blog/{tenant.a.b}'", "{tenant.a.b} is not a placeholder"),
    # "$" matched before a final newline: the name failed only later, against the database
    (_DOC.replace("table = 'blogs'", "table = \"blogs\\n\""), "documents[0].table: 'blogs\\n'"),
    (_DOC.replace("type='blog'", "type=\"blog\\n\""), "documents[0].type: must be"),
    # a required name left out is said to be required
    (_DOC.replace("id='id'\n", ""), "documents[0].id: required"),
    # one table mapped twice: a change to a row updated the first document only, so a
    # deleted post stayed public as the second
    (_DOC + _DOC.replace("type='blog'", "type='post'"),
     "the table 'blogs' is mapped more than once"),
    (_DOC + _DOC.replace("table = 'blogs'", "table = 'pages'"), "share the document type 'blog'"),
])
def test_bad_mapping_files_are_clear_config_errors(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert problem in str(err.value)
    assert all(p.startswith("AWSM_MAPPING_FILE") and str(path) in p for p in err.value.problems)


def test_an_unreadable_mapping_file_is_a_clear_config_error(tmp_path: Path) -> None:
    # a directory, or a file saved as Latin-1, ended `awsm indexer` with a traceback
    with pytest.raises(ConfigError, match="AWSM_MAPPING_FILE: .* cannot be read"):
        load_mapping(tmp_path)
    latin1 = tmp_path / "m.toml"
    latin1.write_bytes(_DOC.encode() + b"# caf\xe9\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_mapping(latin1)


def test_a_schema_without_a_tenant_domain_or_status_can_be_mapped(tmp_path: Path) -> None:
    # left out, each key kept its AWCMS column name, which start-up then required
    path = tmp_path / "m.toml"
    path.write_text("[tenants]\ndomain = ''\nstatus = ''\ndeleted_at = ''\nlocale = ''\n"
                    "[categories]\ndeleted_at = ''\n" + _DOC)
    mapping = load_mapping(path)
    ten = mapping.tenants
    assert (ten.domain, ten.status, ten.deleted_at, ten.locale) == (None, None, None, None)
    assert ten.slug == "slug" and mapping.categories is not None
    assert mapping.categories.deleted_at is None
    assert mapping.categories.tenant == "tenant_id"  # left out: AWCMS's column


def test_tenant_host_names_can_live_in_a_table_of_their_own(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[tenants]\ndomain = ''\ndomains = { table = 'tenant_domains', "
                    "host = 'normalized_hostname', deleted_at = '' }\n" + _DOC)
    domains = load_mapping(path).tenants.domains
    assert domains == TenantDomains(table="tenant_domains", host="normalized_hostname",
                                    deleted_at=None)
    assert load_mapping(None).tenants.domains is None


def test_tables_where_a_tenant_turns_its_search_off(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[tenants]\nsearch_switches = [{ table = 'tenant_modules', require = "
                    "{ module_key = ['site_search'] } }, { table = 'search_settings', "
                    "tenant = 'site_id', enabled = 'is_on' }]\n" + _DOC)
    assert load_mapping(path).tenants.search_switches == (
        SearchSwitch(table="tenant_modules", require=(("module_key", ("site_search",)),)),
        SearchSwitch(table="search_settings", tenant="site_id", enabled="is_on"))
    assert load_mapping(None).tenants.search_switches == ()


def test_where_a_tenant_says_which_types_its_search_shows(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[tenants]\nsearch_types = { table = 'search_settings', names = "
                    "{ blog_post = 'blog' } }\n" + _DOC)
    assert load_mapping(path).tenants.search_types == SearchTypes(
        table="search_settings", names=(("blog_post", "blog"),))
    assert load_mapping(None).tenants.search_types is None


def test_tags_and_a_category_through_a_link_table(tmp_path: Path) -> None:
    link = ("{ link = 'post_terms', row = 'post_id', term = 'term_id', table = 'terms', "
            "tenant = 'tenant_id', require = { kind = ['%s'] } }")
    path = tmp_path / "m.toml"
    path.write_text(_DOC + f"tags = {link % 'tag'}\ncategory = {link % 'category'}\n")
    mapping = load_mapping(path)
    src = mapping.documents[0]
    assert src.tags is None and src.category is None
    assert src.tags_link == TermLink(link="post_terms", row="post_id", term="term_id",
                                     table="terms", tenant="tenant_id",
                                     require=(("kind", ("tag",)),))
    # both streamed: a link's change re-reads its row (deletes must carry post_id), a
    # term's every row linked to it
    assert mapping.keys == {"blogs": "id", "tenants": "id", "post_terms": "post_id",
                            "terms": "id"}
    text = mapping.select_documents(src, sql.SQL("TRUE")).as_string(None)
    assert text.count('FROM "post_terms" "awsm_lk" JOIN "terms" "awsm_tm"') == 2
    assert '"awsm_tm"."tenant_id" = "d"."t"' in text
    assert """"awsm_tm"."kind"::text = ANY('{category}') ORDER BY 1))[1]""" in text


def test_an_image_from_the_row_a_column_points_at(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(_DOC + "image = { column = 'media_id', table = 'media', value = 'url', "
                    "tenant = 'tenant_id', require = { status = ['ready'] } }\n")
    mapping = load_mapping(path)
    src = mapping.documents[0]
    assert src.image is None and "media_id" in src.columns()
    assert mapping.keys["media"] == "id"  # streamed: a changed row re-reads its documents
    text = mapping.select_documents(src, sql.SQL("TRUE")).as_string(None)
    assert ('(SELECT "awsm_lu"."url"::text FROM "media" "awsm_lu" WHERE "awsm_lu"."id" = '
            '"d"."media_id" AND "awsm_lu"."tenant_id" = "d"."t" AND '
            '"awsm_lu"."status"::text = ANY(\'{ready}\') LIMIT 1)') in text


def test_categories_shared_by_every_tenant_join_on_id_alone(tmp_path: Path) -> None:
    doc = _DOC + "category='category_id'\n"
    path = tmp_path / "m.toml"
    for section, tenant_check in (("", True), ("[categories]\n", True),
                                  ("[categories]\ntenant = ''\n", False)):
        path.write_text(section + doc)
        mapping = load_mapping(path) if section else load_mapping(None)
        src = next(d for d in mapping.documents if d.table == "blogs")
        text = mapping.select_documents(src, sql.SQL("TRUE")).as_string(None)
        assert '"c"."id" = "d"."category_id"' in text
        assert ('"c"."tenant_id" = "d".' in text) is tenant_check, text


def test_batch_coalesces_repeated_changes_and_maps_related_tables() -> None:
    m = load_mapping(None)
    b = Batch()
    add_record(b, m, Begin(1, 0, 1))
    for _ in range(3):
        add_record(b, m, Change("update", "public", "blogs", {"id": "a"}))
    add_record(b, m, Change("delete", "public", "pages", {"id": "p"}, {"id": "p"}))
    add_record(b, m, Change("update", "public", "tenants", {"id": "t"}))
    add_record(b, m, Change("update", "public", "categories", {"id": "c"}))
    add_record(b, m, Change("insert", "public", "files", {"id": "f"}))
    assert not b.ready  # never act on a transaction before its commit
    add_record(b, m, Commit(10, 20, 0))
    assert b.ready and b.end_lsn == 20 and b.changes == 7
    assert b.rows == {"blogs": {"a"}, "pages": {"p"}}
    assert b.tenants == {"t"} and b.categories == {"c"}
