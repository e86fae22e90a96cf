"""Hand-written loops of the notebook's own shapes, the yardstick for synclab's generated ones.

Each function is what a person would type: a global int and a threading lock for threads,
Value('i') and a multiprocessing lock for processes, a decorated or with-locked deposit()
called once per operation for pools. Each returns the seconds its loop took.
"""

import asyncio
import multiprocessing
import threading
import time
from contextlib import ContextDecorator

balance = 0


class SimpleLock(ContextDecorator):
    def __init__(self, lock):
        self.lock = lock

    def __enter__(self):
        self.lock.acquire()
        return self

    def __exit__(self, *exc):
        self.lock.release()


# --- threads: a global int ------------------------------------------------------------------


def thread_none(n, amount, lock):
    global balance
    start = time.perf_counter()
    for _ in range(n):
        balance += amount
    return time.perf_counter() - start


def thread_explicit(n, amount, lock):
    global balance
    start = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        balance += amount
        lock.release()
    return time.perf_counter() - start


def thread_context(n, amount, lock):
    global balance
    simple_lock = SimpleLock(lock)
    start = time.perf_counter()
    for _ in range(n):
        with simple_lock:
            balance += amount
    return time.perf_counter() - start


def thread_decorator(n, amount, lock):
    @SimpleLock(lock)
    def deposit(amount):
        global balance
        balance += amount

    start = time.perf_counter()
    for _ in range(n):
        deposit(amount)
    return time.perf_counter() - start


def thread_local_sum(n, amount, lock):
    global balance
    start = time.perf_counter()
    local = 0
    for _ in range(n):
        local += amount
    lock.acquire()
    balance = balance + local
    lock.release()
    return time.perf_counter() - start


# --- processes: a Value('i'), updated inline --------------------------------------------------


def process_none(n, amount, lock, shared):
    start = time.perf_counter()
    for _ in range(n):
        shared.value = shared.value + amount
    return time.perf_counter() - start


def process_explicit(n, amount, lock, shared):
    start = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        shared.value = shared.value + amount
        lock.release()
    return time.perf_counter() - start


def process_context(n, amount, lock, shared):
    simple_lock = SimpleLock(lock)
    start = time.perf_counter()
    for _ in range(n):
        with simple_lock:
            shared.value = shared.value + amount
    return time.perf_counter() - start


def process_decorator(n, amount, lock, shared):
    @SimpleLock(lock)
    def deposit(amount):
        shared.value = shared.value + amount

    start = time.perf_counter()
    for _ in range(n):
        deposit(amount)
    return time.perf_counter() - start


def process_local_sum(n, amount, lock, shared):
    start = time.perf_counter()
    local = 0
    for _ in range(n):
        local += amount
    lock.acquire()
    shared.value = shared.value + local
    lock.release()
    return time.perf_counter() - start


# --- pools: deposit(amount) called per operation, the lock inside it --------------------------


def pool_none(n, amount, lock, shared):
    def deposit(amount):
        shared.value = shared.value + amount

    start = time.perf_counter()
    for _ in range(n):
        deposit(amount)
    return time.perf_counter() - start


def pool_explicit(n, amount, lock, shared):
    def deposit(amount):
        lock.acquire()
        shared.value = shared.value + amount
        lock.release()

    start = time.perf_counter()
    for _ in range(n):
        deposit(amount)
    return time.perf_counter() - start


def pool_context(n, amount, lock, shared):
    simple_lock = SimpleLock(lock)

    def deposit(amount):
        with simple_lock:
            shared.value = shared.value + amount

    start = time.perf_counter()
    for _ in range(n):
        deposit(amount)
    return time.perf_counter() - start


# --- asyncio: read, await, write ----------------------------------------------------------------


async def _pass_through(amount):
    await asyncio.sleep(0)
    return amount


def asyncio_loop(n, amount, style):
    async def main():
        global balance
        lock = asyncio.Semaphore(1) if style == "semaphore" else asyncio.Lock()
        start = time.perf_counter()
        if style == "none":
            for _ in range(n):
                balance = balance + await _pass_through(amount)
        elif style == "local_sum":
            local = 0
            for _ in range(n):
                local += amount
            await lock.acquire()
            balance = balance + local
            lock.release()
        elif style == "context":
            for _ in range(n):
                async with lock:
                    balance = balance + await _pass_through(amount)
        else:
            for _ in range(n):
                await lock.acquire()
                balance = balance + await _pass_through(amount)
                lock.release()
        return time.perf_counter() - start

    return asyncio.run(main())


def _in_a_thread(loop, *args):
    """The loop in a thread of its own, as the notebook runs it and as synclab's workers run: on a
    free-threaded build an object is cheaper to use in the thread that made it than in another."""
    took = []
    worker = threading.Thread(target=lambda: took.append(loop(*args)))
    worker.start()
    worker.join()
    return took[0]


def baseline(primitive, lock_style, n, amount=1):
    """Seconds the hand-written loop for (primitive, lock style) takes for n operations."""
    if primitive == "asyncio":
        return asyncio_loop(n, amount, lock_style)
    shape = {"rlock": "explicit", "semaphore": "explicit", "value_lock": "explicit", "manager": "explicit"}
    code = shape.get(lock_style, lock_style)
    if primitive in ("thread", "thread_pool"):
        lock = {"rlock": threading.RLock, "semaphore": lambda: threading.Semaphore(1)}.get(lock_style, threading.Lock)()
        return _in_a_thread(globals()[f"thread_{code}"], n, amount, lock)
    shared = multiprocessing.Value("i", 0)
    manager = None
    if lock_style == "value_lock":
        lock = shared.get_lock()
    elif lock_style == "manager":
        manager = multiprocessing.Manager()
        lock = manager.Lock()
    elif lock_style == "rlock":
        lock = multiprocessing.RLock()
    elif lock_style == "semaphore":
        lock = multiprocessing.Semaphore(1)
    else:
        lock = multiprocessing.Lock()
    try:
        if primitive == "process" or code in ("local_sum", "decorator"):
            return globals()[f"process_{code}"](n, amount, lock, shared)
        return globals()[f"pool_{code}"](n, amount, lock, shared)
    finally:
        if manager is not None:
            manager.shutdown()
