"""A matrix's products with the query vectors of concurrent searches, computed together.

Scoring every chunk against a query vector reads the whole matrix from memory (143 MB of dense vectors at
100,000 chunks) for a few flops per value, so searches running at once wait on memory, not on the cores. Vectors
that arrive while a product is running are multiplied together in the next one: the matrix is read once for all
of them, and a search alone pays nothing for it.

The matrix holds one vector per column (dimensions × chunks, row-major): OpenBLAS streams that layout through
a vector product at nearly twice the speed of one vector per row (6.3 against 10.9 ms at 93,000 × 384, one
thread). Its matrix product for two or three vectors reads the matrix more slowly than as many vector products
do, so small batches are multiplied a vector at a time.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

import numpy as np


# From this many waiting vectors on, one matrix product beats a vector product each (4: 20 against 25 ms).
MATRIX_PRODUCT_FROM = 4


class BatchedProduct:
    def __init__(self, columns: np.ndarray) -> None:
        self.columns = columns
        self._ready = threading.Condition()
        self._waiting: list[tuple[np.ndarray, Future[np.ndarray]]] = []
        self._running = False

    def __call__(self, vector: np.ndarray) -> np.ndarray:
        """vector @ columns, in one product with the vectors of the other threads that asked meanwhile."""
        product: Future[np.ndarray] = Future()
        with self._ready:
            self._waiting.append((np.asarray(vector, dtype=self.columns.dtype), product))
            while self._running and not product.done():
                self._ready.wait()
            if product.done():
                return product.result()
            # This thread multiplies everything that is waiting, its own vector among it.
            self._running = True
            batch, self._waiting = self._waiting, []
        try:
            if len(batch) < MATRIX_PRODUCT_FROM:
                scores = [vector @ self.columns for vector, _ in batch]
            else:
                scores = list(np.stack([vector for vector, _ in batch]) @ self.columns)
            for row, (_, waiting) in zip(scores, batch):
                waiting.set_result(row)
        except BaseException as exc:
            for _, waiting in batch:
                if not waiting.done():
                    waiting.set_exception(exc)
            raise
        finally:
            with self._ready:
                self._running = False
                self._ready.notify_all()
        return product.result()
