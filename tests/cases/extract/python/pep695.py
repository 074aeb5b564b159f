"""New syntax that ast on Python 3.11 cannot parse."""
import os

type Vector = list[float]
LIMIT = 10


def first[T](items: list[T]) -> T:
    """The first item.

    >>> first([1, 2])
    1
    """
    return items[0]


class Box[T](Base, metaclass=Meta):
    """A box."""

    content: T

    def get(self) -> T:
        return self.content


def run(command):
    os.system(command)
    return eval(command)


if __name__ == "__main__":
    run("ls")
