"""What the LLM stage does for turn-taking besides replying: the words' score, the open prompt.

- **The score** (``vad.turn_text``): right before the reply to a tentative turn, the chat model
  reads the reply's own prompt up to the user's last word and gives its probability that the
  message ends there (``LanguageModel.turn_end``). The board hands it to the end-of-turn
  decision (``TurnBoard.scored``). It runs on the stage's model thread, so it is serialised with
  the reply on the one cache, and the reply that follows evaluates only the few template tokens
  after the words.
- **The open prompt** (``SpeculativeTranscriptFrame(open=True)``, words confirmed while the
  user still speaks): the same prompt is read ahead (``prefill(..., open_end=True)``), so that
  little is left to evaluate once the pause comes. It runs only while the stage has nothing
  else to do and is dropped otherwise: it never delays a reply. Words that turn out different
  cost nothing extra, since the next prompt read keeps only the common prefix of the cache.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING

from assistant.concurrency import call_in_thread
from assistant.errors import AssistantError
from assistant.llm.turn_end import TurnEndScore
from assistant.models.interfaces import ChatMessage
from assistant.pipeline.frames import SpeculativeTranscriptFrame
from assistant.pipeline.turn_taking import TurnBoard

if TYPE_CHECKING:
    from assistant.pipeline.stages.llm import LlmStage
    from assistant.pipeline.stages.reply_steps import ReplyOptions


class TurnText:
    """The LLM stage's share in turn-taking: scores of tentative turns, the open prompt read."""

    def __init__(self, stage: LlmStage, board: TurnBoard | None) -> None:
        """``board``: the tentative turns (None: turns are never tentative, nothing to score)."""
        self.stage, self.board = stage, board
        self._warming: Future[None] | None = None  # the open prompt being read

    def scores(self, turn: int) -> bool:
        """Whether the reply to ``turn`` is preceded by the model's opinion on its words."""
        board = self.board
        return (
            board is not None
            and board.wants_scores
            and board.is_tentative(turn)
            and self.stage.model.scores_turn_end
        )

    async def score(self, turn: int, user: ChatMessage, opts: ReplyOptions) -> None:
        """Score the turn's words on the model thread and put the score on the board.

        Replies are made one at a time, so only a read-ahead can be ahead of the score on the
        thread: the decision may wait for it from now on (``TurnBoard.scoring``).
        """
        board = self.board
        assert board is not None
        board.scoring(turn)
        board.scored(turn, await call_in_thread(self.stage.executor, self._score, user, opts))

    def _score(self, user: ChatMessage, opts: ReplyOptions) -> TurnEndScore | None:
        """Runs on the model thread: the score of the messages the reply will read."""
        stage = self.stage
        try:
            prompt = stage.context.prompt(stage.system_prompt(opts), user)
            return stage.model.turn_end(stage.context.fit(stage.model, prompt, opts.max_tokens))
        except (AssistantError, ValueError):  # no opinion: the rule decides
            return None

    def read_ahead(self, frame: SpeculativeTranscriptFrame) -> bool:
        """Read the prompt of ``frame``'s words now; True if it was started.

        Words at a pause (the silence end of turn) are read as the question they likely are.
        Open words are read up to the last word, and only while the stage has nothing else to
        do: they are dropped rather than queued behind a reply or another read.
        """
        if frame.open and (self.stage.busy() or not _done(self._warming)):
            return False
        self._warming = self.stage.executor.submit(self._read, frame.text, frame.open)
        return True

    def _read(self, words: str, open_end: bool) -> None:
        """Runs on the model thread: the conversation read as it would be with these words."""
        stage = self.stage
        try:
            user = stage.context.question(words)
            prompt = stage.context.prompt(stage.system_prompt(stage.options), user)
            messages = stage.context.fit(stage.model, prompt, stage.options.max_tokens)
            stage.model.prefill(messages, open_end=open_end)
        except (AssistantError, ValueError):  # too long, or stopped: the real turn reports it
            return


def _done(future: Future[None] | None) -> bool:
    return future is None or future.done()
