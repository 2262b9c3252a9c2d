from index import formats
from index.articles import Article
from index.chunking import chunk_article, sentence_spans
from tests.conftest import SAMPLES, story


def _sample() -> Article:
    text = (SAMPLES / "000_529f16d631959521.txt").read_text()
    return formats.parse_text(text, "data/000.txt", ("", ""))


def test_chunks_are_whole_sentences_with_exact_offsets() -> None:
    article = _sample()
    chunks = chunk_article(article, 500)
    spans = sentence_spans(article.text)
    starts, ends = {s for s, _ in spans}, {e for _, e in spans}
    assert len(chunks) > 3
    for chunk in chunks:
        assert article.text[chunk.start : chunk.end] == chunk.text
        assert chunk.start in starts and chunk.end in ends
    # Every sentence is in exactly one chunk, in order.
    covered = [s for s in spans if any(c.start <= s[0] and s[1] <= c.end for c in chunks)]
    assert covered == spans
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_chunks_stay_short_unless_one_sentence_is_long() -> None:
    long_sentence = "The council voted " + "again and " * 80 + "then adjourned."
    article = Article(id="a", title="t", text=story(1) + "\n\n" + long_sentence)
    chunks = chunk_article(article, 200)
    for chunk in chunks:
        assert len(chunk.text) <= 200 or chunk.text == long_sentence


def test_chunk_ids_change_with_content_and_are_stable_otherwise() -> None:
    a = Article(id="a", title="t", text=story(1))
    b = Article(id="a", title="t", text=story(2))
    assert [c.id for c in chunk_article(a, 200)] == [c.id for c in chunk_article(a, 200)]
    assert not {c.id for c in chunk_article(a, 200)} & {c.id for c in chunk_article(b, 200)}
