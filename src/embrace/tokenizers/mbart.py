"""mBART / mBART-50 tokenizers: the ``tokenizer.json`` pipeline plus language codes.

mBART marks the language with a code token (``en_XX``, ``ro_RO`` ...): mBART (cc25, en-ro) appends it after
``</s>`` (``tokens </s> en_XX``), mBART-50 puts it first (``en_XX tokens </s>``). ``src_lang`` sets the code of
inputs, ``tgt_lang`` the code of ``text_target`` (labels). For generation, mBART-50 starts the output with the target
code: pass ``forced_bos_token_id=tokenizer.lang_code_to_id[tgt_lang]`` (``translation_inputs`` does it for you).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from embrace.tokenization import PreTrainedTokenizerFast
from embrace.tokenizers import processors
from embrace.tokenizers.batch_encoding import BatchEncoding
from embrace.tokenizers.errors import TokenizerError, TokenizerInputError
from embrace.tokenizers.legacy import template_processing
from embrace.tokenizers.sentencepiece_model import SentencePieceModel

FAIRSEQ_LANGUAGE_CODES = [
    "ar_AR", "cs_CZ", "de_DE", "en_XX", "es_XX", "et_EE", "fi_FI", "fr_XX", "gu_IN", "hi_IN", "it_IT", "ja_XX",
    "kk_KZ", "ko_KR", "lt_LT", "lv_LV", "my_MM", "ne_NP", "nl_XX", "ro_RO", "ru_RU", "si_LK", "tr_TR", "vi_VN",
    "zh_CN",
]
MBART50_LANGUAGE_CODES = FAIRSEQ_LANGUAGE_CODES + [
    "af_ZA", "az_AZ", "bn_IN", "fa_IR", "he_IL", "hr_HR", "id_ID", "ka_GE", "km_KH", "mk_MK", "ml_IN", "mn_MN",
    "mr_IN", "pl_PL", "ps_AF", "pt_XX", "sv_SE", "sw_KE", "ta_IN", "te_IN", "th_TH", "tl_XX", "uk_UA", "ur_PK",
    "xh_ZA", "gl_ES", "sl_SI",
]


class MBartTokenizer(PreTrainedTokenizerFast):
    """transformers' ``MBartTokenizer(Fast)``: source rows end ``</s> src_lang``, target rows ``</s> tgt_lang``."""

    language_codes: list[str] = FAIRSEQ_LANGUAGE_CODES
    code_first = False  # mBART-50 puts the language code before the tokens

    def __init__(self, tokenizer_object: Any = None, tokenizer_file: str | None = None, **kwargs: Any) -> None:
        src_lang, tgt_lang = kwargs.pop("src_lang", None), kwargs.pop("tgt_lang", None)
        super().__init__(tokenizer_object, tokenizer_file, **kwargs)
        self._target_mode = False
        self.tgt_lang = tgt_lang
        self.src_lang = src_lang if src_lang is not None else "en_XX"

    @property
    def lang_code_to_id(self) -> dict[str, int]:
        vocab = self._tokenizer.get_vocab()
        return {code: vocab[code] for code in self.language_codes if code in vocab}

    @property
    def src_lang(self) -> str:
        return self._src_lang

    @src_lang.setter
    def src_lang(self, code: str) -> None:
        self.set_lang_special_tokens(code)  # raises on an unknown code before anything changes
        self._src_lang = code

    def _code_id(self, code: str) -> int:
        token_id = self._tokenizer.token_to_id(code)
        if token_id is None:
            raise TokenizerError(f"unknown language code {code!r}; this tokenizer knows "
                                 f"{', '.join(self.lang_code_to_id) or 'none'}")
        return token_id

    def set_lang_special_tokens(self, code: str) -> None:
        """Rebuild the post-processor so encodings carry ``code`` (and ``</s>``) where this family puts them."""
        eos = self.eos_token or "</s>"
        eos_id = self._tokenizer.token_to_id(eos)
        if eos_id is None:
            raise TokenizerError(f"the eos token {eos!r} is not in the vocabulary")
        prefix, suffix = ([code], [eos]) if self.code_first else ([], [eos, code])
        template = template_processing(prefix + ["$A"] + suffix, prefix + ["$A", "$B"] + suffix,
                                       {eos: eos_id, code: self._code_id(code)})
        self._tokenizer.post_processor = processors.from_json(template)

    # transformers names, used by its seq2seq helpers
    def set_src_lang_special_tokens(self, src_lang: str) -> None:
        self.set_lang_special_tokens(src_lang)

    def set_tgt_lang_special_tokens(self, tgt_lang: str) -> None:
        self.set_lang_special_tokens(tgt_lang)

    def _switch_to_target_mode(self) -> None:
        if self.tgt_lang is None:
            self.tgt_lang = self._src_lang
        self.set_lang_special_tokens(self.tgt_lang)

    def _switch_to_input_mode(self) -> None:
        self.set_lang_special_tokens(self._src_lang)

    @contextlib.contextmanager
    def as_target_tokenizer(self) -> Iterator[MBartTokenizer]:
        """Inside the block, text is encoded as targets (``tgt_lang`` code); the transformers 4.x API."""
        previous, self._target_mode = self._target_mode, True
        self._switch_to_target_mode()
        try:
            yield self
        finally:
            self._target_mode = previous
            if not previous:
                self._switch_to_input_mode()

    def __call__(self, text: Any = None, text_pair: Any = None, text_target: Any = None, **kwargs: Any
                 ) -> BatchEncoding:
        """As the base tokenizer; ``text`` gets the ``src_lang`` code and ``text_target`` the ``tgt_lang`` code."""
        text_pair_target = kwargs.pop("text_pair_target", None)
        if text is None and text_target is None:
            raise TokenizerInputError("pass text= (and/or text_target=) to the tokenizer")
        out = None
        if text is not None:
            if not self._target_mode:
                self._switch_to_input_mode()
            out = self._call_one(text, text_pair, **kwargs)
        if text_target is None:
            assert out is not None
            return out
        self._switch_to_target_mode()
        try:
            target = self._call_one(text_target, text_pair_target, **kwargs)
        finally:
            self._switch_to_input_mode()
        if out is None:
            return target
        out["labels"] = target["input_ids"]
        return out

    def translation_inputs(self, texts: Any, *, src_lang: str, tgt_lang: str, return_tensors: str | None = "pt",
                           **kwargs: Any) -> BatchEncoding:
        """Encode ``texts`` in ``src_lang`` and add ``forced_bos_token_id`` (the ``tgt_lang`` code) for
        ``generate``: ``model.generate(**tokenizer.translation_inputs(...))``."""
        self.src_lang = src_lang
        inputs = self(texts, return_tensors=return_tensors, **kwargs)
        inputs["forced_bos_token_id"] = self._code_id(tgt_lang)
        return inputs

    def _build_translation_inputs(self, raw_inputs: Any, return_tensors: str | None, src_lang: str | None,
                                  tgt_lang: str | None, **kwargs: Any) -> BatchEncoding:
        """The reference's hook for translation pipelines."""
        if src_lang is None or tgt_lang is None:
            raise TokenizerInputError("translation with an mBART tokenizer needs src_lang and tgt_lang")
        return self.translation_inputs(raw_inputs, src_lang=src_lang, tgt_lang=tgt_lang,
                                       return_tensors=return_tensors, **kwargs)

    def save_pretrained(self, save_directory: Any, *args: Any, **kwargs: Any) -> tuple[str, ...]:
        self.extra_config["src_lang"] = self._src_lang
        self.extra_config["tgt_lang"] = self.tgt_lang
        return super().save_pretrained(save_directory, *args, **kwargs)


class MBart50Tokenizer(MBartTokenizer):
    """transformers' ``MBart50Tokenizer(Fast)``: rows are ``lang_code tokens </s>``."""

    language_codes = MBART50_LANGUAGE_CODES
    code_first = True


MBART_TOKENIZER_CLASSES = {"MBartTokenizer": MBartTokenizer, "MBart50Tokenizer": MBart50Tokenizer}


def mbart_tokenizer_json(spm: SentencePieceModel, config: dict[str, Any]) -> dict[str, Any]:
    """tokenizer.json for a folder that only has mBART's ``sentencepiece.bpe.model``: fairseq's id layout
    (``<s> <pad> </s> <unk>``, then the pieces shifted by one, then the language codes and ``<mask>``), as
    transformers 4.x's converter builds it. The post-processor adds ``src_lang`` (default ``en_XX``)."""
    from embrace.tokenizers.marian import spm_piece_pipeline

    mbart50 = str(config.get("tokenizer_class") or "").startswith("MBart50")
    codes = MBART50_LANGUAGE_CODES if mbart50 else FAIRSEQ_LANGUAGE_CODES
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    vocab = [[t, 0.0] for t in specials] + [[p.piece, p.score] for p in spm.pieces[3:]]
    vocab += [[code, 0.0] for code in codes] + [["<mask>", 0.0]]
    data = spm_piece_pipeline(spm).to_dict()
    data["model"] = {"type": "Unigram", "unk_id": 3, "vocab": vocab, "byte_fallback": False}
    data["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    ids = {token: i for i, (token, _) in enumerate(vocab)}
    data["added_tokens"] = [
        {"id": ids[t], "content": t, "single_word": False, "lstrip": t == "<mask>", "rstrip": False,
         "normalized": False, "special": True} for t in [*specials, *codes, "<mask>"]]
    code = str(config.get("src_lang") or "en_XX")
    single, pair = (([code, "$A", "</s>"], [code, "$A", "$B", "</s>"]) if mbart50
                    else (["$A", "</s>", code], ["$A", "$B", "</s>", code]))
    data["post_processor"] = template_processing(single, pair, {"</s>": 2, code: ids.get(code, 3)})
    return data
