"""Tenant data for the isolation and audit tests, and the catalog facts they are driven by.

Organizations are created through ``user_management.create_organization`` (as the app would);
every other tenant table gets rows from a factory here. ``missing_factories`` names tenant tables
that have neither, so a new table without test data fails loudly instead of being skipped.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from elearn_db.render import load_manifest

from .conftest import ROOT

ARGON2 = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$" + "A" * 43


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Org:
    id: uuid.UUID
    owner_id: uuid.UUID
    slug: str


def manifest() -> list[dict[str, Any]]:
    return load_manifest(ROOT)["tables"]


def tenant_tables() -> list[dict[str, Any]]:
    """Tables whose rows belong to one organization (tenancy tenant or root)."""
    return [t for t in manifest() if t["tenancy"] in ("tenant", "root")]


def tenant_column(table: dict[str, Any]) -> str:
    return "id" if table["tenancy"] == "root" else "organization_id"


def create_org(conn: psycopg.Connection, tag: str, *, plan: str = "enterprise") -> Org:
    slug = f"{tag}-{secrets.token_hex(3)}"
    row = conn.execute(
        "select organization_id, owner_user_id from user_management.create_organization("
        "%s, %s, %s, %s, %s, %s, %s)",
        (f"Org {tag}", slug, plan, f"owner@{slug}.example", ARGON2, f"Owner {tag}", "Europe/Berlin"),
    ).fetchone()
    assert row is not None
    return Org(row[0], row[1], slug)


def _with_context(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("select set_config('app.organization_id', %s, true), set_config('app.user_id', %s, true)",
                  (str(org.id), str(org.owner_id)))


def _user(conn: psycopg.Connection, org: Org, name: str) -> uuid.UUID:
    row = conn.execute(
        "insert into user_management.users (organization_id, email, display_name, timezone, password_hash)"
        " values (%s, %s, %s, 'America/Sao_Paulo', %s) returning id",
        (org.id, f"{name}-{secrets.token_hex(3)}@{org.slug}.example", name.title(), ARGON2),
    ).fetchone()
    assert row is not None
    return row[0]


def f_sessions(conn: psycopg.Connection, org: Org) -> None:
    conn.execute(
        "insert into user_management.sessions (organization_id, user_id, token_hash, expires_at, ip, user_agent)"
        " values (%s, %s, %s, now() + interval '1 day', '192.0.2.1', 'pytest')",
        (org.id, org.owner_id, sha256_hex(secrets.token_hex(16))))


def f_auth_tokens(conn: psycopg.Connection, org: Org) -> None:
    conn.execute(
        "insert into user_management.auth_tokens (organization_id, user_id, purpose, token_hash, expires_at)"
        " values (%s, %s, 'password_reset', %s, now() + interval '1 hour')",
        (org.id, org.owner_id, sha256_hex(secrets.token_hex(16))))


def f_login_attempts(conn: psycopg.Connection, org: Org) -> None:
    conn.execute(
        "insert into user_management.login_attempts (organization_id, user_id, email_attempted, succeeded, ip)"
        " values (%s, %s, 'someone@example.org', false, '198.51.100.7')", (org.id, org.owner_id))


# --- content_management and course_management -------------------------------------------------
# Run in FACTORIES order as superuser with the owner's context (the owner holds every permission,
# so the authorization triggers pass). Each org gets: two files (one unused, so one can be
# deleted), a video item with a version and a spare item, three courses (basics and advanced
# published, advanced requiring basics; a draft), modules and lessons, the learner's enrollments
# (basics completed -> certificate and learning events, then advanced completed), a review, a
# published learning path over both courses with the learner's (completed) path enrollment.

def _learner(conn: psycopg.Connection, org: Org) -> uuid.UUID:
    row = conn.execute("select id from user_management.users where organization_id = %s and id <> %s"
                       " order by created_at, id limit 1", (org.id, org.owner_id)).fetchone()
    return row[0] if row else _user(conn, org, "learner")


def _one(conn: psycopg.Connection, query: str, params: tuple[Any, ...]) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0]


def _course_id(conn: psycopg.Connection, org: Org, slug: str) -> uuid.UUID:
    return _one(conn, "select id from course_management.courses where organization_id = %s and slug = %s",
                (org.id, slug))


def f_files(conn: psycopg.Connection, org: Org) -> None:
    for name, mime in [("welcome.mp4", "video/mp4"), ("handout.pdf", "application/pdf")]:
        conn.execute(
            "insert into content_management.files (organization_id, storage_key, mime_type, size_bytes, sha256,"
            " original_filename) values (%s, %s, %s, 4096, %s, %s)",
            (org.id, f"{org.slug}/{name}", mime, sha256_hex(f"{org.slug}/{name}"), name))


def f_content_items(conn: psycopg.Connection, org: Org) -> None:
    conn.execute(
        "insert into content_management.content_items (organization_id, type, title, metadata, owner_user_id)"
        " values (%s, 'video', 'Welcome video', '{\"duration_seconds\": 90}', %s),"
        " (%s, 'document', 'Spare handout', '{\"page_count\": 2}', %s)",
        (org.id, org.owner_id, org.id, org.owner_id))


def f_content_versions(conn: psycopg.Connection, org: Org) -> None:
    item = _one(conn, "select id from content_management.content_items where organization_id = %s"
                " and title = 'Welcome video'", (org.id,))
    file = _one(conn, "select id from content_management.files where organization_id = %s"
                " and mime_type = 'video/mp4'", (org.id,))
    version = _one(conn, "insert into content_management.content_versions (organization_id, content_item_id,"
                   " file_id, notes) values (%s, %s, %s, 'first cut') returning id", (org.id, item, file))
    conn.execute("update content_management.content_items set current_version_id = %s where id = %s",
                 (version, item))


def f_courses(conn: psycopg.Connection, org: Org) -> None:
    cover = _one(conn, "select id from content_management.content_items where organization_id = %s"
                 " and title = 'Welcome video'", (org.id,))
    conn.execute(
        "insert into course_management.courses (organization_id, title, slug, status, tags, price, currency,"
        " cover_content_item_id) values"
        " (%s, 'Basics', 'basics', 'published', '{intro}', 0, null, %s),"
        " (%s, 'Advanced', 'advanced', 'published', '{deep dive}', 19.90, 'EUR', null),"
        " (%s, 'Upcoming', 'upcoming', 'draft', '{}', 0, null, null)",
        (org.id, cover, org.id, org.id))


def f_course_prerequisites(conn: psycopg.Connection, org: Org) -> None:
    basics = _course_id(conn, org, "basics")
    conn.execute(
        "insert into course_management.course_prerequisites (organization_id, course_id, prerequisite_course_id,"
        " is_required) values (%s, %s, %s, true), (%s, %s, %s, false)",
        (org.id, _course_id(conn, org, "advanced"), basics, org.id, _course_id(conn, org, "upcoming"), basics))


def f_modules(conn: psycopg.Connection, org: Org) -> None:
    for slug in ("basics", "advanced", "upcoming"):
        conn.execute("insert into course_management.modules (organization_id, course_id, title) values (%s, %s, %s)",
                     (org.id, _course_id(conn, org, slug), f"{slug.title()} module 1"))


def f_lessons(conn: psycopg.Connection, org: Org) -> None:
    version = _one(conn, "select id from content_management.content_versions where organization_id = %s",
                   (org.id,))
    for slug, titles in [("basics", ["Welcome", "First steps"]), ("advanced", ["Going deeper"]),
                         ("upcoming", ["Soon"])]:
        course = _course_id(conn, org, slug)
        module = _one(conn, "select id from course_management.modules where organization_id = %s and course_id = %s",
                      (org.id, course))
        for title in titles:
            conn.execute(
                "insert into course_management.lessons (organization_id, course_id, module_id, title, content_type,"
                " points_reward, content_version_id) values (%s, %s, %s, %s, %s, 10, %s)",
                (org.id, course, module, title, "video" if title == "Welcome" else "text",
                 version if title == "Welcome" else None))


def f_enrollments(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("insert into course_management.enrollments (organization_id, user_id, course_id) values (%s, %s, %s)",
                 (org.id, _learner(conn, org), _course_id(conn, org, "basics")))


def _complete(conn: psycopg.Connection, org: Org, slug: str) -> None:
    learner, course = _learner(conn, org), _course_id(conn, org, slug)
    enrollment = _one(conn, "select id from course_management.enrollments where organization_id = %s"
                      " and user_id = %s and course_id = %s", (org.id, learner, course))
    for (lesson,) in conn.execute("select id from course_management.lessons where organization_id = %s"
                                  " and course_id = %s order by position", (org.id, course)).fetchall():
        conn.execute(
            "insert into course_management.lesson_progress (organization_id, enrollment_id, user_id, course_id,"
            " lesson_id, status, time_spent_seconds, attempts, score) values (%s, %s, %s, %s, %s, 'completed', 60, 1, 95)",
            (org.id, enrollment, learner, course, lesson))


def f_lesson_progress(conn: psycopg.Connection, org: Org) -> None:
    _complete(conn, org, "basics")  # completes the enrollment: certificate + learning events


def f_certificates(conn: psycopg.Connection, org: Org) -> None:
    # basics is completed, so the prerequisite of advanced is met: a second certificate.
    conn.execute("insert into course_management.enrollments (organization_id, user_id, course_id) values (%s, %s, %s)",
                 (org.id, _learner(conn, org), _course_id(conn, org, "advanced")))
    _complete(conn, org, "advanced")


def f_learning_events(conn: psycopg.Connection, org: Org) -> None:
    # Events were recorded by the enrollments and completions above; a consumer claims the first.
    conn.execute("update course_management.learning_events set consumed_at = now() where organization_id = %s"
                 " and id = (select id from course_management.learning_events where organization_id = %s order by id limit 1)",
                 (org.id, org.id))


def f_course_reviews(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("insert into course_management.course_reviews (organization_id, course_id, user_id, rating, body)"
                 " values (%s, %s, %s, 4, 'Clear and practical.')",
                 (org.id, _course_id(conn, org, "basics"), _learner(conn, org)))


def f_learning_paths(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("insert into course_management.learning_paths (organization_id, title, slug, status, sequential)"
                 " values (%s, 'Foundations', 'foundations', 'published', true)", (org.id,))


def f_learning_path_courses(conn: psycopg.Connection, org: Org) -> None:
    path = _one(conn, "select id from course_management.learning_paths where organization_id = %s", (org.id,))
    for position, slug in enumerate(["basics", "advanced"], 1):
        conn.execute("insert into course_management.learning_path_courses (organization_id, learning_path_id,"
                     " course_id, position) values (%s, %s, %s, %s)",
                     (org.id, path, _course_id(conn, org, slug), position))


def f_learning_path_enrollments(conn: psycopg.Connection, org: Org) -> None:
    path = _one(conn, "select id from course_management.learning_paths where organization_id = %s", (org.id,))
    conn.execute("insert into course_management.learning_path_enrollments (organization_id, user_id,"
                 " learning_path_id) values (%s, %s, %s)", (org.id, _learner(conn, org), path))


# --- gamification ---------------------------------------------------------------------------------
# A default point system (and a spare one, deletable) with a lesson rule (and an unused, deletable
# course rule) and two levels. The owner is awarded points and adjusted (ledger rows, user_points):
# the owner, not the learner, because the ledger is append-only and would block the audit test's
# hard delete of the learner (the owner is undeletable anyway, like with login_attempts).

def _system_id(conn: psycopg.Connection, org: Org) -> uuid.UUID:
    return _one(conn, "select id from gamification.point_systems where organization_id = %s and is_default", (org.id,))


def f_point_systems(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("insert into gamification.point_systems (organization_id, name, unit, is_default, daily_cap)"
                 " values (%s, 'XP', 'XP', true, 1000), (%s, 'Coins', 'coins', false, null)", (org.id, org.id))


def f_point_rules(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("insert into gamification.point_rules (organization_id, point_system_id, event_type, points)"
                 " values (%s, %s, 'lesson_completed', 10), (%s, %s, 'course_completed', 50)",
                 (org.id, _system_id(conn, org), org.id, _system_id(conn, org)))


def f_levels(conn: psycopg.Connection, org: Org) -> None:
    for number, name, threshold in [(1, "Novice", 0), (2, "Adept", 100)]:
        conn.execute("insert into gamification.levels (organization_id, point_system_id, level_number, name, threshold)"
                     " values (%s, %s, %s, %s, %s)", (org.id, _system_id(conn, org), number, name, threshold))


def f_point_transactions(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("select gamification.award_points(%s, 'lesson_completed', 'manual', null, %s)",
                 (org.owner_id, f"factory:{org.id}"))


def f_user_points(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("select gamification.adjust_points(%s, 5, 'Welcome bonus', %s)", (org.owner_id, f"factory-adjust:{org.id}"))


def f_rewards(conn: psycopg.Connection, org: Org) -> None:
    # A limited reward (redeemed by f_reward_redemptions) and a spare one without redemptions (deletable).
    conn.execute("insert into gamification.rewards (organization_id, point_system_id, name, cost_points, stock)"
                 " values (%s, %s, 'Sticker', 5, 10), (%s, %s, 'Spare', 1, null)",
                 (org.id, _system_id(conn, org), org.id, _system_id(conn, org)))


def f_reward_redemptions(conn: psycopg.Connection, org: Org) -> None:
    reward = _one(conn, "select id from gamification.rewards where organization_id = %s and name = 'Sticker'", (org.id,))
    conn.execute("select gamification.redeem_reward(%s, %s, 1, %s)", (org.owner_id, reward, f"factory-redeem:{org.id}"))


# Tables create_organization does not fill. Keyed by schema.table; each adds >= 1 row for the org.
FACTORIES: dict[str, Callable[[psycopg.Connection, Org], None]] = {
    "user_management.sessions": f_sessions,
    "user_management.auth_tokens": f_auth_tokens,
    "user_management.login_attempts": f_login_attempts,
    "content_management.files": f_files,
    "content_management.content_items": f_content_items,
    "content_management.content_versions": f_content_versions,
    "course_management.courses": f_courses,
    "course_management.course_prerequisites": f_course_prerequisites,
    "course_management.modules": f_modules,
    "course_management.lessons": f_lessons,
    "course_management.enrollments": f_enrollments,
    "course_management.lesson_progress": f_lesson_progress,
    "course_management.certificates": f_certificates,
    "course_management.learning_events": f_learning_events,
    "course_management.course_reviews": f_course_reviews,
    "course_management.learning_paths": f_learning_paths,
    "course_management.learning_path_courses": f_learning_path_courses,
    "course_management.learning_path_enrollments": f_learning_path_enrollments,
    "gamification.point_systems": f_point_systems,
    "gamification.point_rules": f_point_rules,
    "gamification.levels": f_levels,
    "gamification.point_transactions": f_point_transactions,
    "gamification.user_points": f_user_points,
    "gamification.rewards": f_rewards,
    "gamification.reward_redemptions": f_reward_redemptions,
}


def _merge_parts() -> None:
    # Areas added later keep their factories in tests/tenant_data/<NN>_<area>.py (see its __init__).
    from . import tenant_data
    for module in tenant_data.modules():
        FACTORIES.update(getattr(module, "FACTORIES", {}))


_merge_parts()


def populate(conn: psycopg.Connection, orgs: int = 3) -> list[Org]:
    """Create ``orgs`` organizations with a learner each, and run every factory for each (as superuser)."""
    out = []
    for i in range(orgs):
        org = create_org(conn, f"iso{i}")
        _with_context(conn, org)
        _user(conn, org, "learner")
        for factory in FACTORIES.values():
            factory(conn, org)
        out.append(org)
    return out


def missing_factories(conn: psycopg.Connection, orgs: list[Org]) -> list[str]:
    """Tenant tables with no row for some organization after ``populate``."""
    missing = []
    for t in tenant_tables():
        col = tenant_column(t)
        q = sql.SQL("select count(distinct {c}) from {s}.{t} where {c} = any(%s)").format(
            c=sql.Identifier(col), s=sql.Identifier(t["schema"]), t=sql.Identifier(t["table"]))
        n = conn.execute(q, ([o.id for o in orgs],)).fetchone()
        if not n or n[0] != len(orgs):
            missing.append(t["name"])
    return missing


def row_as_dict(conn: psycopg.Connection, table: str, col: str, org: uuid.UUID) -> dict[str, Any]:
    """One row of ``org`` in ``table`` (superuser read), without generated columns."""
    schema, name = table.split(".")
    rel = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
    row = conn.execute(sql.SQL("select to_jsonb(x) from {} x where {} = %s limit 1").format(
        rel, sql.Identifier(col)), (org,)).fetchone()
    assert row is not None, f"no row of {org} in {table}"
    generated = {r[0] for r in conn.execute(
        "select attname from pg_attribute where attrelid = %s::regclass and attgenerated <> ''", (table,))}
    return {k: v for k, v in row[0].items() if k not in generated}


def insert_sql(table: str, row: dict[str, Any]) -> tuple[sql.Composed, list[Any]]:
    """INSERT of a JSON row through jsonb_populate_record, so every column keeps its type."""
    schema, name = table.split(".")
    rel = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in row)
    q = sql.SQL("insert into {rel} ({cols}) select {cols} from jsonb_populate_record(null::{rel}, %s)").format(
        rel=rel, cols=cols)
    return q, [Jsonb(row)]


def primary_key(conn: psycopg.Connection, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)"
        " where i.indrelid = %s::regclass and i.indisprimary order by array_position(i.indkey, a.attnum)", (table,))]
