"""Every pattern and performance rule in one module.

A second paragraph, kept apart from the first.
"""
from __future__ import annotations

import abc
import contextlib
import functools
import multiprocessing
import threading
import timeit
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, lru_cache

import torch
import torch.multiprocessing as tmp
import triton
from torch import nn
from torch.autograd import Function
from torch.nn import Module
from torch.utils import benchmark

__all__ = ["Point", "Shape"]
__all__ += ["Net"]

MAX_DEPTH: int = 3
LONG_TABLE = {
    "alpha": 1,  # first
    "beta": 2,
    "gamma": 3, "delta": 4, "epsilon": 5, "zeta": 6, "eta": 7, "theta": 8, "iota": 9, "kappa": 10,
    "lambda": 11,
}
lowercase_value = 1


@dataclass
class Point:
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True)
class Frozen:
    value: int


class Shape(ABC):
    """An abstract shape."""

    def __init__(self, name):
        self.name = name

    @abstractmethod
    def area(self):
        """The area."""

    @property
    def label(self):
        return self.name

    @label.setter
    def label(self, value):
        self.name = value

    @cached_property
    def expensive(self):
        return sum(range(10))


class Meta(metaclass=abc.ABCMeta):
    pass


class Resource:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class ParseError(ValueError):
    pass


@contextmanager
def opened(path):
    handle = open(path)
    try:
        yield handle
    finally:
        handle.close()


@contextlib.contextmanager
def quiet():
    yield


def numbers(limit):
    for n in range(limit):
        yield n


async def fetch(client, url: str, *, timeout: float = 1.0) -> bytes:
    async with client.session() as session:
        async for chunk in session.stream(url):
            await session.log(chunk)
    return await client.get(url, timeout=timeout)


def retry(times):
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for _ in range(times):
                try:
                    return fn(*args, **kwargs)
                except ParseError:
                    continue
            return None

        return wrapper

    return decorator


class Net(nn.Module):
    def forward(self, x):
        return x.cuda()


class Net2(torch.nn.Module):
    pass


class Net3(Module):
    pass


class Square(Function):
    @staticmethod
    def forward(ctx, x):
        return x * x


def accelerate(model, data):
    if torch.cuda.is_available():
        model.to(device="cuda")
    gpu = torch.device("cuda:0")
    worker = threading.Thread(target=print)
    with ThreadPoolExecutor() as pool:
        pool.submit(print)
    with multiprocessing.Pool(2) as workers:
        workers.map(print, data)
    tmp.spawn(print)
    compiled = torch.compile(model)
    scripted = torch.jit.script(model)
    seconds = timeit.timeit("1 + 1")
    timer = benchmark.Timer(stmt="x")
    return gpu, worker, compiled, scripted, seconds, timer


@functools.lru_cache(maxsize=None)
def cached(n):
    return n


@lru_cache
def cached_bare(n):
    return n


@functools.cache
def cached_new(n):
    return n


@torch.jit.script
def scripted_add(x):
    return x + 1


@triton.jit
def kernel(pointer):
    pass


def grid(n):
    total = 0
    for i in range(n):
        for j in range(n):
            while total < n:
                for k in range(n):
                    total += i * j * k
    return total
