"""Selectors: counts derived in one query, owner isolation, semantic search."""
import pytest

from datasets import selectors, services
from datasets.models import Dataset, Document
from tests.datasets.files import make_html, make_markdown, make_pdf
from tests.datasets.helpers import upload_and_ingest

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus(user, other_user):
    birds = services.create_dataset(user, "Birds")
    money = services.create_dataset(user, "Council")
    upload_and_ingest(user, birds, [
        ("ducks.md", make_markdown("Ducks", ["Mallard ducks dabble in shallow ponds and eat aquatic plants."])),
        ("owls.pdf", make_pdf([["Owls hunt mice at night with silent flight."]])),
    ])
    upload_and_ingest(user, money, [
        ("budget.html", make_html("Budget", ["The council approved the annual budget for road repairs."])),
    ])
    theirs = services.create_dataset(other_user, "Bob's birds")
    upload_and_ingest(other_user, theirs, [
        ("geese.md", make_markdown("Geese", ["Ducks and geese swim together in the pond."])),
    ])
    return birds, money, theirs


def test_search_finds_the_right_chunk_first(user, corpus):
    hits = selectors.search_chunks(user, "which birds paddle in ponds?")
    assert hits[0].document_name == "ducks.md" and hits[0].dataset_name == "Birds"
    assert hits[0].score > hits[-1].score
    assert selectors.search_chunks(user, "municipal spending on streets")[0].document_name == "budget.html"
    owls = selectors.search_chunks(user, "nocturnal hunting birds")[0]
    assert owls.document_name == "owls.pdf" and owls.page == 1


def test_search_only_sees_the_owners_chunks(user, other_user, corpus):
    birds, money, theirs = corpus
    mine = selectors.search_chunks(user, "ducks in a pond", limit=50)
    assert {hit.dataset_id for hit in mine} == {birds.pk, money.pk}
    bobs = selectors.search_chunks(other_user, "ducks in a pond", limit=50)
    assert [hit.document_name for hit in bobs] == ["geese.md"]


def test_search_can_be_limited_to_datasets(user, corpus):
    birds, money, _ = corpus
    hits = selectors.search_chunks(user, "ducks in a pond", dataset_ids=[money.pk])
    assert [hit.document_name for hit in hits] == ["budget.html"]
    assert selectors.search_chunks(user, "   ") == []


def test_counts_and_status_are_derived_in_one_query(user, corpus, django_assert_num_queries):
    birds, money, theirs = corpus
    services.upload_documents(user, money, [("later.md", b"# Later\n\nnot processed yet")])
    with django_assert_num_queries(1):
        datasets = {d.name: d for d in selectors.datasets_for(user)}
    assert set(datasets) == {"Birds", "Council"}
    assert (datasets["Birds"].document_count, datasets["Birds"].succeeded_count, datasets["Birds"].chunk_total) == (2, 2, 2)
    assert selectors.dataset_status(datasets["Birds"]) == "ready"
    assert (datasets["Council"].document_count, datasets["Council"].in_progress_count) == (2, 1)
    assert selectors.dataset_status(datasets["Council"]) == "processing"


def test_owner_cannot_read_others_datasets_or_documents(user, other_user, corpus):
    _, _, theirs = corpus
    with pytest.raises(Dataset.DoesNotExist):
        selectors.dataset_with_counts(user, theirs.pk)
    their_document = Document.objects.get(dataset=theirs)
    with pytest.raises(Document.DoesNotExist):
        selectors.document_for(user, their_document.pk)
    assert list(selectors.documents_for(user, theirs.pk)) == []
