from virtlab.rendering import render_markdown


def test_markdown_features_render():
    text = """
## First section

| tool | kind |
|:-----|-----:|
| runc | OCI  |

```python
print("hi")
```

!!! note "Remember"
    Containers share the kernel.

=== "Type 1"
    Bare metal.
=== "Type 2"
    Hosted.

- [x] read the lesson
- [ ] run the lab
"""
    rendered = render_markdown(text)
    html = rendered.html
    assert '<h2 id="first-section">' in html
    assert 'href="#first-section"' in html  # heading anchor
    assert "<table>" in html and 'style="text-align:left"' in html
    assert '<span class="nb">print</span>' in html  # pygments highlighting
    assert 'class="admonition note"' in html
    assert 'class="tabbed-set tabbed-alternate"' in html and 'type="radio"' in html
    assert 'type="checkbox"' in html and "disabled" in html
    assert rendered.toc == [{"id": "first-section", "name": "First section", "level": 2}]


def test_dangerous_html_never_survives():
    text = (
        "<script>alert('x')</script>\n\n"
        '<img src="x" onerror="alert(1)">\n\n'
        "[click](javascript:alert(1))\n\n"
        '<a href="javascript:alert(2)" onclick="alert(3)">raw</a>\n\n'
        '<div style="position:fixed">styled</div>\n\n'
        '<iframe src="https://example.org"></iframe>\n'
    )
    html = render_markdown(text).html.lower()
    assert "<script" not in html
    assert "onerror" not in html and "onclick" not in html
    assert "javascript:" not in html
    assert "<iframe" not in html and "<img" not in html
    assert "position:fixed" not in html
    assert "alert(" not in html


def test_links_keep_safe_schemes_and_gain_rel():
    html = render_markdown("[docs](https://example.org/doc) [mail](mailto:a@b.c)").html
    assert 'href="https://example.org/doc"' in html
    assert 'href="mailto:a@b.c"' in html
    assert 'rel="noopener noreferrer"' in html


def test_images_only_from_our_static_figures():
    html = render_markdown(
        "![A diagram of layers](/static/img/lessons/layers.svg)\n\n"
        '<img src="/static/img/lessons/a.svg" onerror="alert(1)" alt="a">\n\n'
        "![remote](https://example.org/tracker.svg)\n\n"
        "![escape](/static/img/../secret.svg)\n\n"
        "![data](data:image/svg+xml;base64,PHN2Zz4=)\n"
    ).html
    assert '<img alt="A diagram of layers" src="/static/img/lessons/layers.svg">' in html
    assert '<img src="/static/img/lessons/a.svg" alt="a">' in html
    assert html.count("<img") == 2
    assert "example.org" not in html and "secret" not in html and "data:" not in html
    assert "onerror" not in html


def test_one_document_leaves_nothing_behind_for_the_next():
    # Each thread reuses its converter: ids, the table of contents and stashed HTML
    # must start afresh for every document.
    first = render_markdown("## Intro\n\n<details><summary>a</summary>b</details>\n\n## Intro\n")
    second = render_markdown("## Intro\n\ntext\n")
    assert [entry["id"] for entry in first.toc] == ["intro", "intro_1"]
    assert second.toc == [{"id": "intro", "name": "Intro", "level": 2}]
    assert "details" not in second.html and "intro_1" not in second.html
    assert render_markdown("## Intro\n\ntext\n") == second


def test_each_thread_renders_with_its_own_converter():
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"## Part {n}\n\n" + "word " * 2000 for n in range(8)]
    with ThreadPoolExecutor(4) as pool:
        rendered = list(pool.map(render_markdown, texts))
    for n, result in enumerate(rendered):
        assert result.toc == [{"id": f"part-{n}", "name": f"Part {n}", "level": 2}]
        assert result.html.count("word") == 2000


def test_a_rendered_snippet_is_reused_and_the_cache_stays_within_its_budget():
    from virtlab.rendering import _RenderCache

    cache = _RenderCache(max_chars=10)
    cache.put("aaaa", ("<p>a</p>", []))
    cache.put("bbbb", ("<p>b</p>", []))
    assert cache.get("aaaa") == ("<p>a</p>", [])  # now the most recently used
    cache.put("cccc", ("<p>c</p>", []))  # 12 characters: the least recent one goes
    assert cache.get("bbbb") is None
    assert cache.get("aaaa") and cache.get("cccc")
    cache.put("x" * 11, ("<p>x</p>", []))  # over the whole budget: never kept
    assert cache.get("x" * 11) is None and cache.get("cccc")


def test_changing_a_returned_table_of_contents_changes_no_later_result():
    first = render_markdown("## Kept\n")
    first.toc[0]["name"] = "changed"
    first.toc.append({"id": "x", "name": "x", "level": 2})
    assert render_markdown("## Kept\n").toc == [{"id": "kept", "name": "Kept", "level": 2}]
