"""Peer review (assessment V0105-V0106), as the application role: reviewers are assigned by graders,
never to their own submission (EL063) and only when enrolled (EL062); a reviewer reads the submission
only through get_peer_review_tasks() (the author hidden when anonymous) and submits before the due date
(EL064); an author reads the reviews only through get_submission_peer_reviews() (the reviewer hidden
when anonymous); nobody else but graders of the course sees anything.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from .conftest import PgServer
from .course_support import School, add_person, school
from .test_assignments import SUBMIT, assignment, enrolled_course, rubric, rubric_scores

ASSIGN = "select id, anonymous, status from assessment.assign_peer_review(%s, %s, %s::timestamptz, %s)"
REVIEW = "select id, total_points from assessment.submit_peer_review(%s, %s, %s::jsonb)"
TASKS = ("select peer_review_assignment_id, submission_id, anonymous, author_user_id, author_display_name, body_text"
         " from assessment.get_peer_review_tasks()")
REVIEWS = ("select peer_review_id, anonymous, reviewer_user_id, reviewer_display_name, comments, total_points, scores"
           " from assessment.get_submission_peer_reviews(%s)")


class Setup:
    def __init__(self, s: School, anonymous: bool = True) -> None:
        self.s = s
        add_person(s, "outsider", "learner")
        self.course = enrolled_course(s, "learner", "learner2")
        self.rubric, _ = rubric(s, self.course, (4, 6))
        self.assignment = assignment(s, self.course, rubric_id=self.rubric, max_points=10,
                                     peer_review_anonymous=anonymous)
        out = s.run("learner", SUBMIT, (s.t.id, self.assignment, s.t.users["learner"]))
        assert out.ok, out
        self.submission: uuid.UUID = out.rows[0][0]


@pytest.fixture
def s(tx: psycopg.Connection, pg: PgServer) -> School:
    return school(tx, pg, "peer")


def test_assigning_reviewers(s: School) -> None:
    x = Setup(s)
    learner, learner2 = s.t.users["learner"], s.t.users["learner2"]
    out = s.run("ta", ASSIGN, (x.submission, learner, None, None))
    assert (out.sqlstate, out.constraint) == ("EL063", "trg_peer_review_assignments_check")
    out = s.run("ta", ASSIGN, (x.submission, s.t.users["outsider"], None, None))
    assert (out.sqlstate, out.constraint) == ("EL062", "trg_peer_review_assignments_check")
    assert s.run("learner2", ASSIGN, (x.submission, learner2, None, None)).sqlstate == "42501"
    assert s.run("learner", ASSIGN, (x.submission, learner2, None, None)).sqlstate == "42501"
    assert s.run("ta", ASSIGN, (uuid.uuid4(), learner2, None, None)).sqlstate == "P0002"
    first = s.run("ta", ASSIGN, (x.submission, learner2, "2999-01-01", None))
    assert first.ok and first.rows[0][1:] == (True, "assigned")  # anonymity from the assignment
    assert s.run("instructor", ASSIGN, (x.submission, learner2, None, False)).rows == first.rows  # idempotent
    assert s.one("select count(*) from assessment.peer_review_assignments where submission_id = %s",
                 (x.submission,)) == 1
    # Direct writes are not the app's.
    assert s.run("ta", "insert into assessment.peer_review_assignments (organization_id, assignment_id, course_id,"
                       " submission_id, reviewer_user_id) values (%s, %s, %s, %s, %s)",
                 (s.t.id, x.assignment, x.course, x.submission, learner2)).sqlstate == "42501"


def test_reviewing_and_reading_reviews(s: School) -> None:
    x = Setup(s, anonymous=True)
    learner, learner2 = s.t.users["learner"], s.t.users["learner2"]
    task = s.run("ta", ASSIGN, (x.submission, learner2, "2999-01-01", None)).rows[0][0]
    # The reviewer sees the submission through the function, not the author; not the row itself.
    tasks = s.run("learner2", TASKS).rows
    assert tasks == [(task, x.submission, True, None, None, "My answer")]
    assert s.run("learner2", "select count(*) from assessment.assignment_submissions").value == 0
    assert s.run("learner2", "select count(*) from assessment.peer_review_assignments").value == 1
    assert s.run("learner", "select count(*) from assessment.peer_review_assignments").value == 0
    assert s.run("learner", TASKS).rows == []
    # Only the reviewer submits; each criterion once; the total is the sum.
    assert s.run("learner", REVIEW, (task, "Great", None)).sqlstate == "P0002"
    assert s.run("ta", REVIEW, (task, "Great", None)).sqlstate == "P0002"
    assert s.run("learner2", REVIEW, (task, "Great", rubric_scores(s, x.rubric, [4]))).sqlstate == "22023"
    out = s.run("learner2", REVIEW, (task, "Great", rubric_scores(s, x.rubric, [5, 1])))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_peer_review_scores_points")
    out = s.run("learner2", REVIEW, (task, None, None))
    assert (out.sqlstate, out.constraint) == ("23514", "ck_peer_reviews_content")
    review, total = s.run("learner2", REVIEW, (task, "Great", rubric_scores(s, x.rubric, [3, 5]))).rows[0]
    assert total == Decimal("8.00")
    review2, total2 = s.run("learner2", REVIEW, (task, "Better", rubric_scores(s, x.rubric, [4, 5]))).rows[0]
    assert total2 == 9 and review2 != review
    assert s.one("select count(*) from assessment.peer_reviews where peer_review_assignment_id = %s", (task,)) == 1
    assert s.one("select status from assessment.peer_review_assignments where id = %s", (task,)) == "submitted"
    # The author reads the review, anonymously; graders see the reviewer; others get P0002.
    (row,) = s.run("learner", REVIEWS, (x.submission,)).rows
    assert row[:6] == (review2, True, None, None, "Better", Decimal("9.00"))
    assert [sc["points"] for sc in row[6]] == [4, 5]
    assert s.run("ta", REVIEWS, (x.submission,)).rows[0][2:4] == (learner2, "Learner2")
    assert s.run("learner2", REVIEWS, (x.submission,)).sqlstate == "P0002"
    assert s.run("outsider", REVIEWS, (x.submission,)).sqlstate == "P0002"
    assert s.run("learner", "select count(*) from assessment.peer_reviews").value == 0
    assert s.run("learner", "select count(*) from assessment.peer_review_scores").value == 0
    assert s.run("learner2", "select count(*) from assessment.peer_review_scores").value == 2
    assert s.run("ta", "select count(*) from assessment.peer_review_scores").value == 2
    # After the due date: closed.
    s.conn.execute("update assessment.peer_review_assignments set due_at = now() - interval '1 second' where id = %s",
                   (task,))
    assert s.run("learner2", REVIEW, (task, "Late", None)).sqlstate == "EL064"
    assert learner != learner2


def test_open_reviews_show_both_sides(s: School) -> None:
    x = Setup(s, anonymous=False)
    learner2 = s.t.users["learner2"]
    task = s.run("ta", ASSIGN, (x.submission, learner2, None, None)).rows[0][0]
    assert s.run("learner2", TASKS).rows[0][2:5] == (False, s.t.users["learner"], "Learner")
    s.ok("learner2", REVIEW, (task, "Nice", None))
    assert s.run("learner", REVIEWS, (x.submission,)).rows[0][1:4] == (False, learner2, "Learner2")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(anonymous=st.booleans(), viewer=st.sampled_from(["learner", "learner2", "outsider", "ta", "viewer"]))
def test_identity_visibility_follows_anonymity(tx: psycopg.Connection, pg: PgServer, anonymous: bool,
                                              viewer: str) -> None:
    """Model: the author sees the reviewer unless anonymous; graders always; the reviewer sees the author
    unless anonymous; anyone else sees neither the review nor the task."""
    with tx.transaction(force_rollback=True):
        s = school(tx, pg, "anon")
        x = Setup(s)
        task = s.run("ta", ASSIGN, (x.submission, s.t.users["learner2"], None, anonymous)).rows[0][0]
        s.ok("learner2", REVIEW, (task, "Comment", None))
        reviews = s.run(viewer, REVIEWS, (x.submission,))
        if viewer in ("learner", "ta"):
            shown = reviews.rows[0][2]
            assert shown == (None if anonymous and viewer == "learner" else s.t.users["learner2"])
        else:
            assert reviews.sqlstate == "P0002"
        tasks = s.run(viewer, TASKS).rows
        if viewer == "learner2":
            assert tasks[0][3] == (None if anonymous else s.t.users["learner"])
        else:
            assert tasks == []
        # Base tables never name the author to anyone but graders, whatever the flag.
        seen = s.run(viewer, "select count(*) from assessment.assignment_submissions where id = %s", (x.submission,))
        assert seen.value == (1 if viewer in ("learner", "ta") else 0)
