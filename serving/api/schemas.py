"""The service's request and response bodies (pydantic): what the OpenAPI document at /docs describes."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.text import VISIBLE_CHARACTER, is_blank
from search.results import MODES, SOURCES

MAX_DOCUMENTS = 1_000  # find_similar; its encoding work is bounded by serving.api.budget's tokens
MAX_DOCUMENT_CHARS = 20_000

Mode = Literal["dense", "bm25", "hybrid"]
Source = Literal["document", "corpus"]
SourceFilter = Literal[Source, ""]  # GET /search's `source`: "" (a form's empty field) means no filter
if set(get_args(Mode)) != set(MODES) or set(get_args(Source)) != set(SOURCES):  # the API mirrors the retriever
    raise RuntimeError(f"serving.api lists other modes/sources than search.results: {MODES}, {SOURCES}")


BLANK = "is blank: empty, or only whitespace, control or invisible characters"


def text_schema(max_chars: int) -> dict:
    """What the OpenAPI document states of a text check_text accepts (all but "no lone surrogate", which JSON
    Schema cannot say: a JSON string can hold one, Unicode text cannot)."""
    return {"type": "string", "minLength": 1, "maxLength": max_chars, "pattern": VISIBLE_CHARACTER}


def check_text(value: str, max_chars: int | None = None) -> str:
    """A text the service takes in (a query, a document): not blank (core.text.is_blank, the definition the
    document pipeline uses too), Unicode (a lone surrogate from a JSON escape would fail the tokenizer and the
    response's encoding), at most max_chars characters."""
    if max_chars is not None and len(value) > max_chars:
        raise ValueError(f"has {len(value):,} characters; at most {max_chars:,} are allowed")
    if is_blank(value):
        raise ValueError(BLANK)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"is not Unicode text: a lone surrogate (U+{ord(value[exc.start]):04X}) at character {exc.start}"
        ) from None
    return value


class ErrorResponse(BaseModel):
    detail: str = Field(description="What was wrong, in words")
    errors: list[dict] | None = Field(None, description="Per-field validation errors (422 only)")


class SearchHit(BaseModel):
    id: str = Field(description="A corpus passage's id, or `<doc_id>:<chunk_id>` for a document chunk")
    text: str
    score: float = Field(description="Cosine similarity (dense), BM25 score (bm25) or reciprocal-rank-fusion (hybrid)")
    source: str = Field(description="`document` or `corpus`")  # a str: a new source in the data must not 500
    doc_id: str = Field(description="The document id, or the corpus name for a corpus passage")
    chunk_id: str
    pages: list[int] | None = Field(description="Pages a document chunk spans; null for corpus passages")


class SearchResponse(BaseModel):
    query: str
    mode: Mode
    k: int
    model_id: str = Field(description="The embedding model the index and the query vector come from")
    results: list[SearchHit] = Field(description="Best first; at most k, one per result id")


class FindSimilarRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not silently ignored

    query: str = Field(
        description=f"The text to compare every document with: non-blank (a visible character), at most "
        f"{MAX_DOCUMENT_CHARS:,} characters",
        json_schema_extra=text_schema(MAX_DOCUMENT_CHARS),
        examples=["How do I reset my password?"],
    )
    documents: list[str] = Field(
        description=f"1 to {MAX_DOCUMENTS:,} non-blank texts of at most {MAX_DOCUMENT_CHARS:,} characters. A text "
        "longer than the model's 256-token window is compared on all its windows (its best one counts).",
        json_schema_extra={"minItems": 1, "maxItems": MAX_DOCUMENTS, "items": text_schema(MAX_DOCUMENT_CHARS)},
        examples=[["A recipe for pancakes", "To reset your password, open settings and choose 'Forgot password'"]],
    )

    @field_validator("query")
    @classmethod
    def _query_text(cls, value: str) -> str:
        return check_text(value, MAX_DOCUMENT_CHARS)

    @field_validator("documents")
    @classmethod
    def _documents_bounded(cls, value: list[str]) -> list[str]:
        # explicit messages naming the offending document, rather than pydantic's generic constraint errors
        if not value:
            raise ValueError("documents must hold at least one document")
        if len(value) > MAX_DOCUMENTS:
            raise ValueError(f"documents holds {len(value):,} items; at most {MAX_DOCUMENTS:,} are allowed")
        for index, document in enumerate(value):
            try:
                check_text(document, MAX_DOCUMENT_CHARS)
            except ValueError as exc:
                raise ValueError(f"documents[{index}] {exc}") from None
        return value


class RankedDocument(BaseModel):
    index: int = Field(description="Position of the document in the request")
    document: str
    score: float = Field(description="Cosine similarity with the query, -1..1")


class FindSimilarResponse(BaseModel):
    most_similar_doc: str
    similarity_score: float
    ranking: list[RankedDocument] = Field(description="Every document, most similar first")


class DocumentChunk(BaseModel):
    chunk_id: str
    text: str
    pages: list[int] | None
    vector: list[float] | None = Field(None, description="The chunk's unit-length embedding (only with vectors=true)")


class DocumentChunks(BaseModel):
    doc_id: str
    model_id: str
    chunks: list[DocumentChunk] = Field(description="In document order")


class Interest(BaseModel):
    id: str = Field(description="The interest's id (the model's catalogue)")
    label: str
    probability: float = Field(description="Calibrated probability that the user holds the interest, 0..1")


class UserInterestsResponse(BaseModel):
    user_handle: str
    name: str | None = Field(description="The user's display name")
    type: str | None = Field(description="The user's type: B2B or B2C")
    model_version: str | None = Field(description="The interest model version that scored the user")
    cold_start: bool = Field(
        description="True when the user has no activity: the probabilities are the user type's prior (the share "
        "of training users of that type holding the interest)"
    )
    interests: list[Interest] = Field(
        description="Most likely first; at most `limit`, only those with probability >= `min_probability`"
    )


class Health(BaseModel):
    status: Literal["ok", "no_index"] = Field(description="`no_index` until a published index could be loaded")
    model_id: str | None
    vectors: int = Field(description="Chunks (vectors) in the index being served")
    published_at: str | None
    warehouse_built_at: str | None
    published_path: str
    search_backend: str = Field(
        "memory",
        description="Where searches run: `memory` (the published copy) or "
        "`postgres` (search_chunks on the Postgres server; then `vectors` counts its rows)",
    )
    detail: str | None = Field(None, description="Why the last load of the published file failed, if it did")
    interest_users: int = Field(0, description="Users in the interest scores being served (GET /interests)")
    interest_model_version: str | None = Field(None, description="The interest model version being served")
    interest_detail: str | None = Field(None, description="Why the last load of the interest scores failed, if it did")
