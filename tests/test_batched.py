"""search/batched.py: products computed together for concurrent threads equal each thread's own product."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from search.batched import BatchedProduct


def test_concurrent_products_equal_each_threads_own_product():
    rng = np.random.default_rng(0)
    columns = rng.standard_normal((64, 5000)).astype(np.float32)
    vectors = rng.standard_normal((32, 64)).astype(np.float32)
    product = BatchedProduct(columns)
    found: dict[int, np.ndarray] = {}
    start = threading.Barrier(len(vectors))

    def ask(i: int) -> None:
        start.wait()
        found[i] = product(vectors[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(vectors))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, vector in enumerate(vectors):
        np.testing.assert_allclose(found[i], vector @ columns, rtol=1e-4, atol=1e-4)


def test_a_failed_product_fails_every_thread_that_waited_for_it_and_the_next_one_works():
    product = BatchedProduct(np.ones((3, 4), dtype=np.float32))
    with pytest.raises(ValueError):
        product(np.ones(5, dtype=np.float32))  # the wrong length
    np.testing.assert_allclose(product(np.ones(3, dtype=np.float32)), [3, 3, 3, 3])
