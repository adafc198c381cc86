"""Tenant data of the questions part of assessment (V0110-V0119).

Per organization: a private bank of the course ``basics`` with a multiple-choice question (version 1
and its key) and an organization-wide shared bank with a true/false question. The true/false
question is the spare one: created last, never used by an attempt, so the audit test can update and
delete its rows (used versions and their keys are immutable, EL042). Other areas that need a
question version for attempts should use the multiple-choice one (stem 'Factory: pick b').
"""

from __future__ import annotations

from typing import Callable

import psycopg

from tests.tenancy import Org, _course_id, _one

MC_DEFINITION = '{"options": [{"id": "a", "text": "Alpha"}, {"id": "b", "text": "Beta"}, {"id": "c", "text": "Gamma"}]}'


def _bank(conn: psycopg.Connection, org: Org, name: str) -> object:
    return _one(conn, "select id from assessment.question_banks where organization_id = %s and name = %s", (org.id, name))


def f_question_banks(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("insert into assessment.question_banks (organization_id, course_id, name, visibility)"
                 " values (%s, %s, 'Factory bank', 'private')", (org.id, _course_id(conn, org, "basics")))
    conn.execute("insert into assessment.question_banks (organization_id, course_id, name, visibility)"
                 " values (%s, null, 'Shared bank', 'shared')", (org.id,))


def f_questions(conn: psycopg.Connection, org: Org) -> None:
    for name in ("Factory bank", "Shared bank"):
        conn.execute("insert into assessment.questions (organization_id, bank_id) values (%s, %s)",
                     (org.id, _bank(conn, org, name)))


def _question(conn: psycopg.Connection, org: Org, bank: str) -> object:
    return _one(conn, "select id from assessment.questions where organization_id = %s and bank_id = %s",
                (org.id, _bank(conn, org, bank)))


def f_question_versions(conn: psycopg.Connection, org: Org) -> None:
    conn.execute("insert into assessment.question_versions (organization_id, question_id, question_type, stem, points,"
                 " definition, explanation) values (%s, %s, 'multiple_choice_single', 'Factory: pick b', 2, %s,"
                 " 'Beta is right.')", (org.id, _question(conn, org, "Factory bank"), MC_DEFINITION))
    conn.execute("insert into assessment.question_versions (organization_id, question_id, question_type, stem, points,"
                 " definition) values (%s, %s, 'true_false', 'Factory: the sky is blue', 1, '{}')",
                 (org.id, _question(conn, org, "Shared bank")))


def f_question_answer_keys(conn: psycopg.Connection, org: Org) -> None:
    for stem, key in [("Factory: pick b", '{"correct": "b"}'), ("Factory: the sky is blue", '{"correct": true}')]:
        version = _one(conn, "select id from assessment.question_versions where organization_id = %s and stem = %s",
                       (org.id, stem))
        conn.execute("insert into assessment.question_answer_keys (organization_id, question_version_id, answer_key)"
                     " values (%s, %s, %s)", (org.id, version, key))


FACTORIES: dict[str, Callable[[psycopg.Connection, Org], None]] = {
    "assessment.question_banks": f_question_banks,
    "assessment.questions": f_questions,
    "assessment.question_versions": f_question_versions,
    "assessment.question_answer_keys": f_question_answer_keys,
}

_SPARE_VERSION = ("select v.id from assessment.question_versions v where v.organization_id = %(org)s"
                  " and v.used_at is null and v.stem like 'Factory: the sky%%' order by v.id desc limit 1")

MUTATIONS: dict[str, str] = {
    "assessment.question_banks": "update assessment.question_banks set name = name || ' (renamed)'"
        " where id = (select id from assessment.question_banks where organization_id = %(org)s order by id limit 1)",
    "assessment.questions": "update assessment.questions set deleted_at = now()"
        " where id = (select id from assessment.questions where organization_id = %(org)s order by id limit 1)",
    "assessment.question_versions": "update assessment.question_versions set stem = stem || ' (edited)'"
        f" where id = ({_SPARE_VERSION})",
    "assessment.question_answer_keys": "update assessment.question_answer_keys set answer_key = '{\"correct\": false}'"
        f" where question_version_id = ({_SPARE_VERSION})",
}
