"""The recorder's disk spill: records in order, files removed only when told, a dead
process's files adopted, torn records dropped (real files in a temporary directory)."""

from __future__ import annotations

from pathlib import Path

from server.engagement.spill import HEADER, Spill


def payloads(prefix: str, count: int) -> list[bytes]:
    return [f"{prefix}{i}".encode() * (1 + i % 7) for i in range(count)]


def test_records_come_back_in_order_across_files(tmp_path: Path) -> None:
    spill = Spill(tmp_path, file_bytes=200)
    assert spill.open() == 0
    first, second = payloads("a", 30), payloads("b", 40)
    spill.append(first)
    spill.append(second)
    assert spill.depth == 70
    got, finished = spill.read(50)
    assert got == (first + second)[:50] and spill.depth == 20
    rest, more = spill.read(1000)
    assert got + rest == first + second and spill.depth == 0
    files = finished + more
    assert all(p.exists() for p in files)  # kept until their events are in Redis
    spill.remove(files)
    assert not any(p.exists() for p in files)
    spill.close()
    assert list(tmp_path.iterdir()) == []


def test_appends_after_a_full_read_start_a_new_file(tmp_path: Path) -> None:
    spill = Spill(tmp_path)
    spill.open()
    spill.append([b"one"])
    got, finished = spill.read(10)
    assert (got, len(finished)) == ([b"one"], 1)
    spill.append([b"two"])
    got, finished2 = spill.read(10)
    assert got == [b"two"] and finished2 != finished


def test_front_records_are_read_first(tmp_path: Path) -> None:
    spill = Spill(tmp_path)
    spill.open()
    spill.append([b"newer"])
    spill.append([b"oldest"], front=True)
    assert spill.read(10)[0] == [b"oldest", b"newer"]


def test_a_dead_processes_files_are_adopted_and_a_torn_record_dropped(tmp_path: Path) -> None:
    dead = Spill(tmp_path)
    dead.open()
    dead.append([b"x1", b"x2"])
    directory = dead.directory
    assert directory is not None
    # Simulate a crash mid-write: half a record at the end, and the lock released.
    with next(directory.glob("*.spill")).open("ab") as handle:
        handle.write(HEADER.pack(100) + b"torn")
    assert dead._lock_handle is not None
    dead._lock_handle.close()
    alive = Spill(tmp_path)
    assert alive.open() == 2
    assert alive.read(10)[0] == [b"x1", b"x2"]
    assert not directory.exists()


def test_a_live_processes_files_are_left_alone(tmp_path: Path) -> None:
    owner = Spill(tmp_path)
    owner.open()
    owner.append([b"mine"])
    other = Spill(tmp_path)
    assert other.open() == 0
    assert owner.read(10)[0] == [b"mine"]
    other_dir = other.directory
    other.close()
    # The empty directory goes; one with events not yet confirmed stays for the next run.
    assert other_dir is not None and not other_dir.exists()
    owner_dir = owner.directory
    owner.close()
    assert owner_dir is not None and list(owner_dir.glob("*.spill"))
