"""Both languages everywhere: same keys, no user-visible literal in pages, ?lang= works."""

from __future__ import annotations

import ast
import re
import string

import pytest

from lenet.i18n import LANGUAGES, catalogue, normalise_language, translate
from lenet_testkit.apptest import PAGES, ROOT, run_page, texts

PAGES_ON_DISK = PAGES

# Streamlit calls whose arguments a person reads.
TEXT_CALLS = {
    "title",
    "header",
    "subheader",
    "markdown",
    "write",
    "caption",
    "text",
    "info",
    "warning",
    "error",
    "success",
    "toast",
    "button",
    "slider",
    "select_slider",
    "selectbox",
    "radio",
    "checkbox",
    "toggle",
    "text_input",
    "text_area",
    "number_input",
    "metric",
    "tabs",
    "expander",
    "page_link",
    "segmented_control",
    "pills",
    "file_uploader",
    "download_button",
    "multiselect",
    "form_submit_button",
    "popover",
    "Page",
    "set_page_config",
    "spinner",
    "status",
    "dialog",
    "help",
    "exception",
    "color_picker",
    "date_input",
    "chat_input",
}
TEXT_KWARGS = {"label", "help", "caption", "title", "placeholder", "body", "page_title", "value"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def field_names(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogues_have_the_same_keys():
    en, zh = catalogue("en"), catalogue("zh")
    assert set(en) - set(zh) == set(), "keys missing in zh"
    assert set(zh) - set(en) == set(), "keys missing in en"
    assert len(en) > 50


def test_catalogues_agree_on_placeholders_and_are_filled():
    en, zh = catalogue("en"), catalogue("zh")
    for key in en:
        en_text = en[key] if isinstance(en[key], str) else "\n".join(en[key])
        zh_text = zh[key] if isinstance(zh[key], str) else "\n".join(zh[key])
        assert en_text.strip() and zh_text.strip(), f"empty string for {key}"
        assert field_names(en_text) == field_names(zh_text), f"placeholders differ for {key}"


def test_chinese_catalogue_is_chinese():
    zh = catalogue("zh")
    chinese = [k for k, v in zh.items() if CJK.search(str(v))]
    assert len(chinese) / len(zh) > 0.8, "most Chinese strings should contain Chinese text"


def test_lesson_terms_used_in_chinese():
    text = "\n".join(str(v) for v in catalogue("zh").values())
    for term in ("卷积层", "特征图", "卷积核", "池化", "全连接层", "偏置"):
        assert term in text, term


@pytest.mark.parametrize(
    "value, expected",
    [("zh", "zh"), ("ZH", "zh"), ("en", "en"), ("fr", "en"), (None, "en"), ("zh-CN", "zh")],
)
def test_normalise_language(value, expected):
    assert normalise_language(value) == expected


def test_translate_fills_fields_and_rejects_unknown_language():
    assert "99.00%" in translate("common.checkpoint_option", "en", variant="x", accuracy=0.99)
    with pytest.raises(ValueError):
        catalogue("fr")


def _literal_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
        return "".join(str(p) for p in parts)
    if isinstance(node, ast.List | ast.Tuple):
        return " ".join(filter(None, (_literal_text(e) for e in node.elts)))
    return None


def user_visible_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string literal with letters handed to a Streamlit text call."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = (
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        )
        if name not in TEXT_CALLS:
            continue
        args = list(node.args) + [kw.value for kw in node.keywords if kw.arg in TEXT_KWARGS]
        for arg in args:
            text = _literal_text(arg)
            if (
                text
                and re.search(r"[A-Za-z\u4e00-\u9fff]", text)
                and not text.startswith(("pages/", ":material/"))
            ):
                found.append((node.lineno, text))
    return found


def test_scanner_catches_literals():
    assert user_visible_literals('st.title("Hello")') == [(1, "Hello")]
    assert user_visible_literals('st.button(label=f"Go {n}")')
    assert user_visible_literals('st.tabs(["A", "B"])')
    assert not user_visible_literals('st.title(t("x.title"))')
    assert not user_visible_literals('st.button(t("x"), key="go_button")')


@pytest.mark.parametrize("path", ["app.py", *PAGES])
def test_no_user_visible_literal_in_page_sources(path):
    literals = user_visible_literals((ROOT / path).read_text(encoding="utf-8"))
    assert literals == [], f"{path}: user-visible literals {literals}"


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_every_page_runs_in_both_languages(page, lang):
    at = run_page(page, lang=lang)
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    if lang == "zh":
        assert CJK.search(at.title[0].value), f"{page}: the title is not Chinese"
    else:
        assert not CJK.search(at.title[0].value)
    assert shown


def test_query_parameter_selects_chinese_and_navigation_follows():
    at = run_page("pages/draw.py", lang="zh")
    assert at.session_state["lang"] == "zh"
    assert at.sidebar.radio(key="lang_widget").value == "zh"
    assert at.title[0].value == translate("draw.title", "zh")
    # The navigation labels are the catalogue's, one per page, in Chinese.
    from lenet.ui import PAGES

    assert sorted(f"pages/{name}.py" for name in PAGES) == PAGES_ON_DISK
    assert all(CJK.search(translate(f"nav.{name}", "zh")) for name in PAGES)


def test_language_switch_changes_the_page_and_the_url():
    at = run_page("pages/draw.py", lang="en")
    at.sidebar.radio(key="lang_widget").set_value("zh").run()
    assert at.title[0].value == translate("draw.title", "zh")
    assert at.session_state["lang"] == "zh"
