"""A customer's own request to be deleted (trigger `customer_request`), on the law's clock.

GDPR art. 12(3) and 17 want the answer without undue delay and within a month, extendable by
two more with a reason told to the customer; PIPL art. 47 asks for timely deletion. So the case
skips the win-back and the notice period: the answer is due `request_deadline` after the
request; the owner checks that the request comes from the customer (an approval task, where the
policy asks for it); then the closure runs at once and everything the law does not oblige the
company to keep is deleted as soon as it is archived, the rest kept restricted for its period.
The request is answered when that first deletion is verified: the customer is told what was
deleted and what is kept, until when. Rules of the extension: workflows/case/rules.py.
"""

from __future__ import annotations

from dataclasses import replace

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CloseoutActivities
    from activities.notice_sending import NoticeActivities
    from closeout.contracts import CaseChange, RequestExtension, StageResult
    from closeout.domain import NoticeKind
    from workflows.case import rules
    from workflows.options import MAIL

# The process itself runs in the sandbox: its parts are imported afresh for every run.
from workflows.case.replies import CaseReplies


class OwnRequest(CaseReplies):
    async def _request_received(self) -> None:
        """The clock starts, and the customer is told when to expect the answer."""
        assert self.terms is not None and self.terms.request_deadline is not None
        self.request_first_due = self.request_due = workflow.now() + self.terms.request_deadline
        await self._do(
            CloseoutActivities.record_case_change,
            CaseChange(
                self.input.case_id,
                self._audit("request_due_set", due_at=self.request_due.isoformat()),
                request_due_at=self.request_due,
            ),
        )
        await self._notify(NoticeKind.REQUEST_RECEIVED)

    def _needs_identity_check(self) -> bool:
        """The policy asks the owner to check the requester, unless the request came with
        proof (the customer signed in, or answered a link sent to their address)."""
        assert self.terms is not None
        return self.terms.request_identity_check and not self.input.evidence.get(
            "identity_verified"
        )

    @workflow.update
    async def extend_request(self, req: RequestExtension) -> StageResult:
        """More time to answer the request, with the reason the customer is told."""
        self.request_due = req.until
        self.request_extensions += 1
        await self._do(
            CloseoutActivities.record_case_change,
            CaseChange(
                self.input.case_id,
                self._audit(
                    "request_extended",
                    actor=req.actor.name,
                    reason=req.reason,
                    due_at=req.until.isoformat(),
                ),
                request_due_at=req.until,
            ),
        )
        notice = replace(self._notice(NoticeKind.REQUEST_EXTENDED), reason=req.reason)
        await self._run(NoticeActivities.send_notice, notice, MAIL)
        return StageResult(self.stage, self.outcome)

    @extend_request.validator
    def _validate_extend_request(self, req: RequestExtension) -> None:
        rules.check_extend_request(self, req, workflow.now())
