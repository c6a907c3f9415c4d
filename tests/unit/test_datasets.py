"""Dataset helpers: row counts of new-data objects."""


def test_count_rows_of_new_data_objects() -> None:
    import io

    import pandas as pd

    from pace.core.datasets import count_rows

    frame = pd.DataFrame({"a": range(7), "b": range(7)})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    assert count_rows("x/new.parquet", buffer.getvalue()) == 7
    assert count_rows("x/new.csv", frame.to_csv(index=False).encode()) == 7
    assert count_rows("x/new.csv", b"a,b\n") == 0
    assert count_rows("x/readme.txt", b"hello\nworld\n") == 0
