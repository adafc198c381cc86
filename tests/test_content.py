"""The content library as the application role: files deduplicated per organization by checksum, the
free plan's storage limit (EL008), content items with type-checked metadata, and their versions:
numbered 1..n per item without gaps, immutable (EL002), of a file type that fits the item; publishing a
new version never changes an old one or the lessons pinned to it.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import PgServer
from .course_support import School, school, sha

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
GiB = 1024 ** 3

FILE = ("insert into content_management.files (organization_id, storage_key, mime_type, size_bytes, sha256,"
        " original_filename) values (%s, %s, %s, %s, %s, %s) returning id")
ITEM = ("insert into content_management.content_items (organization_id, type, title, metadata)"
        " values (%s, %s, %s, %s) returning id")
VERSION = ("insert into content_management.content_versions (organization_id, content_item_id, file_id, notes)"
           " values (%s, %s, %s, %s) returning id, version_number")


@pytest.fixture
def s(tx: psycopg.Connection, pg: PgServer) -> School:
    return school(tx, pg, "lib")


def upload(s: School, who: str = "instructor", *, mime: str = "video/mp4", size: int = 4096,
           checksum: str | None = None, key: str | None = None) -> Any:
    return s.run(who, FILE, (s.t.id, key or f"media/{uuid.uuid4().hex}.bin", mime, size, checksum or sha(), "clip.mp4"))


def item(s: School, type_: str = "video", metadata: str = "{}", who: str = "instructor") -> uuid.UUID:
    return s.ok(who, ITEM, (s.t.id, type_, f"{type_} item", metadata))  # type: ignore[no-any-return]


# -------------------------------------------------------------------------------------------------
# Files
# -------------------------------------------------------------------------------------------------

def test_files_are_deduplicated_per_organization_by_checksum(tx: psycopg.Connection, pg: PgServer, s: School) -> None:
    digest = sha()
    first = upload(s, checksum=digest).value
    for who in ("instructor", "admin"):
        dup = upload(s, who, checksum=digest)
        assert (dup.sqlstate, dup.constraint) == ("23505", "uq_files_organization_id_sha256"), who
    # a soft-deleted file keeps its checksum: re-uploading the bytes means undeleting it
    assert s.run("instructor", "update content_management.files set deleted_at = now() where id = %s",
                 (first,)).rowcount == 1
    assert upload(s, checksum=digest).sqlstate == "23505"
    assert s.run("instructor", "update content_management.files set deleted_at = null where id = %s",
                 (first,)).rowcount == 1
    # the same bytes in another organization are that organization's own file
    other = school(tx, pg, "lib-other", people=(("instructor", "instructor"),))
    assert upload(other, checksum=digest).ok
    assert s.one("select count(*) from content_management.files where sha256 = %s", (digest,)) == 2
    # storage keys are unique per organization too
    key = "shared/intro.mp4"
    assert upload(s, key=key).ok and upload(other, key=key).ok
    out = upload(s, key=key)
    assert (out.sqlstate, out.constraint) == ("23505", "uq_files_organization_id_storage_key")


def test_files_are_registered_by_content_managers_and_their_bytes_never_change(s: School) -> None:
    for who in ("learner", "ta", "viewer"):
        assert upload(s, who).sqlstate == "42501", who
    f = upload(s).value
    for col, value in [("storage_key", "other/key"), ("mime_type", "video/webm"), ("size_bytes", 1), ("sha256", sha())]:
        assert s.run("instructor", f"update content_management.files set {col} = %s where id = %s",
                     (value, f)).sqlstate == "42501", col
    assert s.run("instructor", "update content_management.files set original_filename = 'renamed.mp4' where id = %s",
                 (f,)).rowcount == 1
    assert s.run("learner", "update content_management.files set original_filename = 'x.mp4' where id = %s",
                 (f,)).rowcount == 0
    assert s.run("instructor", "delete from content_management.files where id = %s", (f,)).sqlstate == "42501"
    for kw, constraint in [({"mime": "Video/MP4"}, "ck_files_mime_type_format"),
                           ({"checksum": "ABC"}, "ck_files_sha256_format"),
                           ({"size": 0}, "ck_files_size_bytes"),
                           ({"key": "/absolute/path"}, "ck_files_storage_key_format")]:
        out = upload(s, **kw)
        assert (out.sqlstate, out.constraint) == ("23514", constraint), kw
    assert s.ok("viewer", "select count(*) from content_management.files") == 1  # members read the library


def test_the_free_plan_limits_storage(tx: psycopg.Connection, pg: PgServer) -> None:
    s = school(tx, pg, "libfree", plan="free", people=(("instructor", "instructor"),))  # 1 GiB
    big = upload(s, size=GiB - 1000).value
    out = upload(s, size=1001)
    assert (out.sqlstate, out.constraint) == ("EL008", "trg_files_enforce_plan_limit_insert")
    small = upload(s, size=1000).value  # exactly at the limit
    out = upload(s, size=1)
    assert (out.sqlstate, out.constraint) == ("EL008", "trg_files_enforce_plan_limit_insert")
    # deleting frees space; undeleting is checked again
    s.ok("instructor", "update content_management.files set deleted_at = now() where id = %s returning id", (small,))
    extra = upload(s, size=500).value
    out = s.run("instructor", "update content_management.files set deleted_at = null where id = %s", (small,))
    assert (out.sqlstate, out.constraint) == ("EL008", "trg_files_enforce_plan_limit_update")
    s.ok("instructor", "update content_management.files set deleted_at = now() where id = %s returning id", (extra,))
    assert s.run("instructor", "update content_management.files set deleted_at = null where id = %s",
                 (small,)).rowcount == 1
    assert s.one("select sum(size_bytes) from content_management.files where organization_id = %s"
                 " and deleted_at is null", (s.t.id,)) == GiB
    assert big


# -------------------------------------------------------------------------------------------------
# Content items and versions
# -------------------------------------------------------------------------------------------------

@PROPERTY
@given(picks=st.lists(st.integers(0, 2), min_size=1, max_size=12))
def test_versions_are_numbered_1_to_n_per_item(tx: psycopg.Connection, s: School, picks: list[int]) -> None:
    """Versions added to three items in any interleaving are numbered 1..n per item, in insertion order."""
    with tx.transaction(force_rollback=True):
        items = [item(s) for _ in range(3)]
        added: dict[int, list[uuid.UUID]] = {0: [], 1: [], 2: []}
        for i in picks:
            f = upload(s).value
            vid, number = s.run("instructor", VERSION, (s.t.id, items[i], f, None)).rows[0]
            added[i].append(vid)
            assert number == len(added[i])
        for i, vids in added.items():
            assert s.fetch("select id, version_number from content_management.content_versions"
                           " where content_item_id = %s order by version_number", (items[i],)) == [
                (v, n) for n, v in enumerate(vids, 1)]


def test_a_client_cannot_choose_the_version_number(s: School) -> None:
    it, f = item(s), upload(s).value
    out = s.run("instructor", "insert into content_management.content_versions (organization_id, content_item_id,"
                              " file_id, version_number) values (%s, %s, %s, 7)", (s.t.id, it, f))
    assert out.sqlstate == "42501"
    for who in ("learner", "ta"):
        assert s.run(who, VERSION, (s.t.id, it, f, None)).sqlstate == "42501", who


def test_content_versions_are_immutable(s: School) -> None:
    it, f, f2 = item(s), upload(s).value, upload(s).value
    v, number = s.run("instructor", VERSION, (s.t.id, it, f, "first cut")).rows[0]
    # the application has no privilege to change or delete a version at all ...
    for q in ("update content_management.content_versions set notes = 'edited' where id = %s",
              "update content_management.content_versions set file_id = file_id where id = %s",
              "delete from content_management.content_versions where id = %s"):
        assert s.run("admin", q, (v,)).sqlstate == "42501", q
    # ... and the table refuses changes from anyone else (here the owner role) with EL002 naming the column
    for col, value in [("notes", "edited"), ("file_id", f2), ("version_number", 2), ("created_at", "2000-01-01")]:
        out = s.owner_run(f"update content_management.content_versions set {col} = %s where id = %s", (value, v))
        assert (out.sqlstate, out.constraint) == ("EL002", "trg_content_versions_immutable"), col
    assert s.owner_run("update content_management.content_versions set notes = notes where id = %s", (v,)).rowcount == 1
    assert s.one("select notes, file_id, version_number from content_management.content_versions where id = %s",
                 (v,)) == ("first cut", f, number)


def test_publishing_a_new_version_leaves_old_versions_and_pinned_lessons_alone(s: School) -> None:
    it = item(s, metadata='{"duration_seconds": 90}')
    v1 = s.run("instructor", VERSION, (s.t.id, it, upload(s).value, "first cut")).rows[0][0]
    s.ok("instructor", "update content_management.content_items set current_version_id = %s where id = %s returning id",
         (v1, it))
    o = s.course(status="draft", modules=[(1, False)])
    s.ok("instructor", "update course_management.lessons set content_version_id = %s, content_type = 'video'"
                       " where id = %s returning id", (v1, o.flat[0]))
    before = s.one("select to_jsonb(v) from content_management.content_versions v where id = %s", (v1,))
    v2, n2 = s.run("instructor", VERSION, (s.t.id, it, upload(s).value, "re-cut")).rows[0]
    s.ok("instructor", "update content_management.content_items set current_version_id = %s where id = %s returning id",
         (v2, it))
    assert n2 == 2
    assert s.one("select to_jsonb(v) from content_management.content_versions v where id = %s", (v1,)) == before
    assert s.one("select current_version_id from content_management.content_items where id = %s", (it,)) == v2
    assert s.one("select content_version_id from course_management.lessons where id = %s", (o.flat[0],)) == v1
    # the current version is always one of the item's own
    other = item(s)
    out = s.run("instructor", "update content_management.content_items set current_version_id = %s where id = %s",
                (v1, other))
    assert (out.sqlstate, out.constraint) == ("23503", "fk_content_items_current_version_id")


@pytest.mark.parametrize("type_,mime,fits", [
    ("video", "video/mp4", True), ("video", "application/pdf", False), ("document", "application/pdf", True),
    ("document", "video/mp4", False), ("scorm_package", "application/zip", True), ("image", "image/png", True),
    ("audio", "video/mp4", False), ("presentation", "application/vnd.ms-powerpoint", True),
])
def test_a_versions_file_must_fit_the_item_type(s: School, type_: str, mime: str, fits: bool) -> None:
    metadata = '{"scorm_version": "2004"}' if type_ == "scorm_package" else "{}"
    it, f = item(s, type_, metadata), upload(s, mime=mime).value
    out = s.run("instructor", VERSION, (s.t.id, it, f, None))
    if fits:
        assert out.ok
    else:
        assert (out.sqlstate, out.constraint) == ("23514", "trg_content_versions_number")


@pytest.mark.parametrize("type_,metadata,valid", [
    ("video", '{"duration_seconds": 120, "caption_languages": ["en", "pt-BR"], "transcript_available": true}', True),
    ("video", '{"page_count": 3}', False),
    ("video", '{"duration_seconds": -5}', False),
    ("video", '{"duration_seconds": "120"}', False),
    ("document", '{"page_count": 12, "language": "de-DE"}', True),
    ("document", '{"language": "not a tag"}', False),
    ("scorm_package", '{"launch_path": "index.html"}', False),
    ("scorm_package", '{"scorm_version": "2004", "launch_path": "index.html", "mastery_score": 80}', True),
    ("scorm_package", '{"scorm_version": "2004", "launch_path": "../etc/passwd"}', False),
    ("image", '{"alt_text": "A bar chart", "width": 640, "height": 480}', True),
    ("image", '{"surprise": 1}', False),
])
def test_item_metadata_is_checked_per_type(s: School, type_: str, metadata: str, valid: bool) -> None:
    out = s.run("instructor", ITEM, (s.t.id, type_, "Item", metadata))
    if valid:
        assert out.ok
    else:
        assert (out.sqlstate, out.constraint) == ("23514", "ck_content_items_metadata")


def test_members_read_the_library_and_content_managers_write_it(s: School) -> None:
    it = item(s)
    v = s.run("instructor", VERSION, (s.t.id, it, upload(s).value, None)).rows[0][0]
    for who in ("learner", "viewer", "ta"):
        assert s.run(who, ITEM, (s.t.id, "video", "Mine", "{}")).sqlstate == "42501", who
        assert s.run(who, "update content_management.content_items set title = 'x' where id = %s", (it,)).rowcount == 0
        assert s.ok(who, "select count(*) from content_management.content_versions where id = %s", (v,)) == 1
    assert s.one("select owner_user_id from content_management.content_items where id = %s",
                 (it,)) == s.t.users["instructor"]
    assert s.run("instructor", "update content_management.content_items set type = 'audio' where id = %s",
                 (it,)).sqlstate == "42501"  # the type is fixed
