"""The ONNX model: one ``InferenceSession`` per process, loaded and warmed up at startup."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from service.errors import ModelError, ModelLoadError


@dataclass(frozen=True)
class ModelCard:
    """What the service tells about its model (``GET /model``) and stamps on its telemetry."""

    name: str
    version: str
    feature_names: tuple[str, ...]
    raw: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        try:
            raw = json.loads(path.read_text())
            return cls(name=raw["name"], version=str(raw["version"]), feature_names=tuple(raw["feature_names"]), raw=raw)
        except FileNotFoundError:
            raise ModelLoadError(path, "file not found") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(path, f"unreadable model card ({type(exc).__name__}: {exc})") from None


class OnnxModel:
    """Scores engineered feature matrices; all onnxruntime errors become ``ModelError``."""

    def __init__(self, path: Path, card: ModelCard, intra_op_threads: int = 1, inter_op_threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if not path.is_file():
            raise ModelLoadError(path, "file not found")
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors for corrupt files
            raise ModelLoadError(path, f"not a valid ONNX model ({type(exc).__name__})") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or inputs[0].shape[-1] != len(card.feature_names):
            raise ModelLoadError(path, f"expects input {inputs[0].shape}, card lists {len(card.feature_names)} features")
        self.card = card
        self.input_name = inputs[0].name
        outputs = [o.name for o in self._session.get_outputs()]
        self._proba_output = "probabilities" if "probabilities" in outputs else outputs[-1]
        self.providers: tuple[str, ...] = tuple(self._session.get_providers())
        self.intra_op_threads = intra_op_threads
        self.inter_op_threads = inter_op_threads

    @classmethod
    def load(cls, path: Path, intra_op_threads: int = 1, inter_op_threads: int = 1) -> OnnxModel:
        card = ModelCard.load(path.with_name("model_card.json"))
        return cls(path, card, intra_op_threads, inter_op_threads)

    def predict_default_proba(self, features: np.ndarray) -> np.ndarray:
        """P(default) per row, float64 (JSON-ready)."""
        try:
            (probabilities,) = self._session.run([self._proba_output], {self.input_name: features})
        except Exception as exc:
            raise ModelError(f"onnxruntime failed: {type(exc).__name__}") from exc
        return np.asarray(probabilities[:, 1], dtype=np.float64)

    def warm_up(self, features: np.ndarray) -> None:
        """Run once so the first real request does not pay for lazy initialisation."""
        for _ in range(3):
            self.predict_default_proba(features)
