"""The hm, fashion-product-images, events-csv and baskets adapters on small hand-written exports.

Every fixture holds a few good rows and one of each kind of bad row, so the tests pin the exact output values
and the exact count per reason, and that every file's rows reconcile (read = kept + quarantined + filtered).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from atelier.config import EventsCsvSettings, Settings
from atelier.errors import InputError
from atelier.ingest import ingest
from atelier.store.tables import read_table

# ---------------------------------------------------------------------------------------------- helpers


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.lstrip("\n"))
    return path


def file_counts(report: Any, name: str) -> dict[str, Any]:
    """The report entry of the input file called ``name``."""
    (entry,) = [f for f in report.to_dict()["files"] if Path(f["path"]).name == name]
    return entry


def fates(entry: dict[str, Any]) -> tuple[int, int, int, int]:
    """(read, kept, quarantined, filtered out) of one file's report entry."""
    return (entry["rows_read"], entry["rows_kept"], entry["rows_quarantined"], entry["rows_filtered_out"])


def quarantined(out: Path, table: str) -> pl.DataFrame:
    return pl.read_csv(out / "quarantine" / f"{table}.csv", infer_schema=False)


def settings_with(**ingest: Any) -> Settings:
    return Settings(ingest=ingest)


# -------------------------------------------------------------------------------------------------- H&M

ARTICLES = """
article_id,product_code,prod_name,product_type_name,graphical_appearance_name,colour_group_name,index_group_name,detail_desc,section_name
0111565001,111565,Stockings,Underwear Tights,Solid,Black,Ladieswear,"Sheer, 20 denier",Womens
0111565001,111565,Stockings,Underwear Tights,Solid,Black,Ladieswear,"Sheer, 20 denier",Womens
0111565003,111565,Stockings,Underwear Tights,Solid,Beige,Divided,,Womens
0200000001,200000,Shirt,Shirt,Stripe,White,Menswear,Cotton shirt,Men
0300000001,300000,Bodysuit,Bodysuit,Solid,Pink,Baby/Children,,Kids
0500000001,500000,Tights,Leggings,Solid,Black,Sport,,Sport
,400000,No id,Shirt,Solid,Red,Menswear,,Men
0200000001,200000,Shirt again,Shirt,Stripe,Blue,Menswear,,Men
0600000001,600000,Ragged,line,with,too,many,fields,x,y,z
"""

CUSTOMERS = """
customer_id,age,club_member_status
c1,25.0,ACTIVE
c2,,ACTIVE
c3,7,ACTIVE
c4,abc,PRE-CREATE
c5,101.0,ACTIVE
,30,ACTIVE
c1,25.0,ACTIVE
"""

TRANSACTIONS = """
t_dat,customer_id,article_id,price,sales_channel_id
2019-01-01,c1,0111565001,0.05,2
2019-01-01,c1,0111565001,0.05,2
2019-01-01,c1,0200000001,0.03,2
2019-01-02,c9,0999999001,0.01,1
not-a-date,c1,0200000001,0.03,2
2019-01-03,,0200000001,0.03,2
2019-01-03,c2,,0.03,2
2019-01-03,c2,0300000001,1,2,3
"""


@pytest.fixture
def hm_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "hm"
    write(folder / "articles.csv", ARTICLES)
    write(folder / "customers.csv", CUSTOMERS)
    write(folder / "transactions.csv", TRANSACTIONS)
    (folder / "images" / "011").mkdir(parents=True)
    (folder / "images" / "011" / "0111565001.jpg").write_bytes(b"\xff\xd8\xff")
    return folder


def test_hm_products(hm_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = ingest("hm", [hm_dir], out, Settings())
    assert report.to_dict()["reconciles"]
    assert file_counts(report, "articles.csv") == {
        "path": str(hm_dir / "articles.csv"),
        "table": "products",
        "rows_read": 9,
        "rows_kept": 5,
        "rows_quarantined": 3,
        "rows_filtered_out": 1,
        "quarantined_by_reason": {"duplicate_article_id": 1, "malformed_csv_row": 1, "missing_article_id": 1},
        "filtered_out_by_reason": {"duplicate": 1},
        "reconciles": True,
    }
    products = read_table(out, "products").sort("product_id")
    assert products["product_id"].to_list() == [
        "0111565001",
        "0111565003",
        "0200000001",
        "0300000001",
        "0500000001",
        "0999999001",  # named by a transaction only
    ]
    first = products.row(0, named=True)
    assert first["group_id"] == "0111565"  # product_code with the zero it has inside article_id
    assert first["title"] == "Stockings"
    assert first["department"] == "Underwear Tights"
    assert first["color"] == "Black"
    assert first["pattern"] == "Solid"
    assert first["description"] == "Sheer, 20 denier"
    assert first["image_path"] == str((hm_dir / "images" / "011" / "0111565001.jpg").resolve())
    assert json.loads(first["attributes"]) == {"index_group_name": "Ladieswear", "section_name": "Womens"}
    assert products["target_audience"].to_list() == ["women", "women", "men", "kids", "unisex", None]
    assert products["image_path"].null_count() == 5
    bare = products.row(5, named=True)
    assert (bare["group_id"], bare["title"]) == ("0999999", None)
    assert json.loads(bare["attributes"]) == {"added_from_events": True}
    assert report.tables["products"]["added_from_events"] == 1
    assert report.tables["products"]["rows"] == 6
    reasons = quarantined(out, "products")["reason"].to_list()
    assert sorted(reasons) == ["duplicate_article_id", "malformed_csv_row", "missing_article_id"]


def test_hm_users(hm_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = ingest("hm", [hm_dir], out, Settings())
    counts = file_counts(report, "customers.csv")
    assert fates(counts) == (7, 5, 1, 1)
    assert counts["quarantined_by_reason"] == {"missing_customer_id": 1}
    users = read_table(out, "users").sort("user_id")
    assert users["user_id"].to_list() == ["c1", "c2", "c3", "c4", "c5", "c9"]
    assert users["age"].to_list() == [25.0, None, None, None, None, None]
    assert users["age_group"].to_list() == ["25-34", None, None, None, None, None]
    assert not users["age_imputed"].any()
    # Raw transaction rows per customer, whatever became of them (c1 has one with a broken date).
    assert users["n_events"].to_list() == [4, 1, 0, 0, 0, 1]
    assert users.row(0, named=True)["first_seen"] == datetime(2019, 1, 1)
    assert report.tables["users"]["added_from_events"] == 1
    assert report.tables["users"]["ages_rejected"] == {"age_out_of_range": 2, "bad_age": 1}
    # `row` is the record number in the file, the header being record 1.
    rejected = quarantined(out, "users").sort(pl.col("row").cast(pl.Int64))
    assert rejected.select("row", "customer_id", "reason").rows() == [
        ("4", "c3", "age_out_of_range"),
        ("5", "c4", "bad_age"),
        ("6", "c5", "age_out_of_range"),
        ("7", None, "missing_customer_id"),
    ]


def test_hm_interactions(hm_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = ingest("hm", [hm_dir], out, Settings())
    counts = file_counts(report, "transactions.csv")
    assert (counts["rows_read"], counts["rows_kept"], counts["rows_quarantined"]) == (8, 4, 4)
    assert counts["rows_filtered_out"] == 0  # identical lines are units of one purchase, not duplicates
    assert counts["quarantined_by_reason"] == {
        "bad_timestamp": 1,
        "malformed_csv_row": 1,
        "missing_user_id": 1,
        "no_product_id": 1,
    }
    inter = read_table(out, "interactions")
    assert inter.select("user_id", "product_id", "session_id").rows() == [
        ("c1", "0111565001", "c1|2019-01-01"),
        ("c1", "0111565001", "c1|2019-01-01"),
        ("c1", "0200000001", "c1|2019-01-01"),
        ("c9", "0999999001", "c9|2019-01-02"),
    ]
    assert inter["timestamp"].to_list()[-1] == datetime(2019, 1, 2)
    assert set(inter["kind"]) == {"purchase"} and set(inter["event_name"]) == {"purchase"}
    assert set(inter["weight"]) == {5.0}
    assert report.tables["interactions"]["customer_day_baskets"] == 2


def test_hm_unknown_products_quarantined_and_files_given_one_by_one(hm_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = [hm_dir / "transactions.csv", hm_dir / "articles.csv"]  # customers.csv is optional
    settings = settings_with(unknown_products="quarantine", kind_weights={"purchase": 7, "view": 1})
    report = ingest("hm", files, out, settings)
    counts = file_counts(report, "transactions.csv")
    assert counts["rows_kept"] == 3
    assert counts["quarantined_by_reason"]["unknown_product"] == 1
    assert read_table(out, "products").height == 5
    assert set(read_table(out, "interactions")["weight"]) == {7.0}
    users = read_table(out, "users").sort("user_id")
    assert users["user_id"].to_list() == ["c1", "c2", "c9"]  # every buyer, from the transactions alone
    assert report.tables["users"]["added_from_events"] == 3


def test_hm_minimal_columns_and_images_dir(tmp_path: Path) -> None:
    write(tmp_path / "in" / "articles.csv", "article_id,prod_name\n0123456001,Top\n")
    write(tmp_path / "in" / "transactions.csv", "t_dat,customer_id,article_id\n2020-07-31,c1,0123456001\n")
    pictures = tmp_path / "pictures" / "012"
    pictures.mkdir(parents=True)
    (pictures / "0123456001.jpg").write_bytes(b"\xff\xd8\xff")
    out = tmp_path / "out"
    report = ingest("hm", [tmp_path / "in"], out, settings_with(images_dir=str(pictures.parent)))
    assert report.to_dict()["reconciles"]
    product = read_table(out, "products").row(0, named=True)
    assert (product["group_id"], product["title"], product["target_audience"]) == ("0123456", "Top", None)
    assert product["image_path"] == str((pictures / "0123456001.jpg").resolve())
    assert product["attributes"] is None  # no other column to keep
    assert read_table(out, "users")["user_id"].to_list() == ["c1"]


def test_hm_input_errors(hm_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"transactions\.csv"):
        ingest("hm", [hm_dir / "articles.csv"], tmp_path / "o1", Settings())
    stray = write(tmp_path / "orders.csv", "a,b\n1,2\n")
    with pytest.raises(InputError, match="not an H&M file"):
        ingest("hm", [hm_dir, stray], tmp_path / "o2", Settings())
    broken = write(tmp_path / "broken" / "transactions.csv", "t_dat,customer_id\n2019-01-01,c1\n")
    write(tmp_path / "broken" / "articles.csv", ARTICLES)
    with pytest.raises(InputError, match="missing required column 'article_id'"):
        ingest("hm", [broken.parent], tmp_path / "o3", Settings())
    assert not (tmp_path / "o3" / "products.parquet").exists()  # stopped before the articles were cleaned


# ------------------------------------------------------------------------------- Fashion Product Images

STYLES = """
id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName
15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,Turtle Check Men Navy Blue Shirt
15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,Turtle Check Men Navy Blue Shirt
15970,Women,Apparel,Topwear,Tops,Red,Fall,2011,Casual,Another product with the same id
,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,No id
39386,Boys,Apparel,Bottomwear,Jeans,Blue,Summer,2012,,"Peter England Boys Blue Jeans, slim"
59263,Girls,Accessories,Watches,Watches,Silver,Winter,2016,Casual,Titan Girls Silver Watch
21379,Unisex,Footwear,Shoes,Casual Shoes,Black,Summer,2012,Casual,Puma Unisex Black Shoes
53759,Men,Apparel,Topwear,Tshirts,Grey,Summer,2012,Casual,Ragged,line,with,extra,fields
"""


def test_fashion_product_images(tmp_path: Path) -> None:
    folder = tmp_path / "fpi"
    write(folder / "styles.csv", STYLES)
    (folder / "images").mkdir()
    (folder / "images" / "15970.jpg").write_bytes(b"\xff\xd8\xff")
    out = tmp_path / "out"
    report = ingest("fashion-product-images", [folder], out, Settings())
    assert report.to_dict()["reconciles"]
    counts = file_counts(report, "styles.csv")
    assert fates(counts) == (8, 4, 3, 1)
    assert counts["quarantined_by_reason"] == {"duplicate_id": 1, "malformed_csv_row": 1, "missing_id": 1}
    assert counts["filtered_out_by_reason"] == {"duplicate": 1}
    products = read_table(out, "products")
    assert products["product_id"].to_list() == ["15970", "39386", "59263", "21379"]
    assert products["group_id"].to_list() == products["product_id"].to_list()
    assert products["target_audience"].to_list() == ["men", "kids", "kids", "unisex"]
    assert products["department"].to_list() == ["Shirts", "Jeans", "Watches", "Casual Shoes"]
    assert products["color"].to_list() == ["Navy Blue", "Blue", "Silver", "Black"]
    assert products["title"][1] == "Peter England Boys Blue Jeans, slim"
    assert products["image_path"].to_list() == [
        str((folder / "images" / "15970.jpg").resolve()),
        None,
        None,
        None,
    ]
    assert json.loads(products["attributes"][1]) == {
        "gender": "Boys",
        "masterCategory": "Apparel",
        "subCategory": "Bottomwear",
        "season": "Summer",
        "year": "2012",
        "usage": None,
    }
    assert read_table(out, "users").height == 0
    assert read_table(out, "interactions").height == 0
    assert report.tables["products"]["with_image"] == 1


def test_fashion_product_images_needs_styles(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no styles\.csv"):
        ingest("fashion-product-images", [tmp_path / "empty"], tmp_path / "out", Settings())


# ------------------------------------------------------------------------------------------- events-csv

TAOBAO_MAPPING = EventsCsvSettings(
    user="user_id",
    item="item_id",
    event="behavior_type",
    timestamp="timestamp",
    column_names=["user_id", "item_id", "category_id", "behavior_type", "timestamp"],
)

# No header. Epoch seconds and milliseconds; a repeat; an unwanted event; bad time; no user; ragged line.
TAOBAO = """
1,100,9,pv,1511544070
1,100,9,pv,1511544070
1,101,9,buy,1511544070500
2,100,9,cart,1511600000
2,102,9,fav,2017-11-25 10:00:00
2,103,9,share,1511600000
3,104,9,pv,yesterday
,105,9,pv,1511600000
4,106,9,pv
"""


def test_events_csv_headerless_epochs(tmp_path: Path) -> None:
    path = write(tmp_path / "UserBehavior.csv", TAOBAO)
    out = tmp_path / "out"
    report = ingest("events-csv", [path], out, settings_with(events_csv=TAOBAO_MAPPING))
    assert report.to_dict()["reconciles"]
    counts = file_counts(report, "UserBehavior.csv")
    assert fates(counts) == (9, 4, 3, 2)
    assert counts["quarantined_by_reason"] == {
        "bad_timestamp": 1,
        "malformed_csv_row": 1,
        "missing_user_id": 1,
    }
    assert counts["filtered_out_by_reason"] == {"duplicate": 1, "event_not_of_interest": 1}
    inter = read_table(out, "interactions")
    assert inter.select("user_id", "product_id", "event_name", "kind", "weight").rows() == [
        ("1", "100", "pv", "view", 1.0),
        ("1", "101", "buy", "purchase", 5.0),
        ("2", "100", "cart", "bag", 4.0),
        ("2", "102", "fav", "wishlist", 3.0),
    ]
    assert inter["timestamp"].to_list() == [
        datetime(2017, 11, 24, 17, 21, 10),
        datetime(2017, 11, 24, 17, 21, 10, 500000),
        datetime(2017, 11, 25, 8, 53, 20),
        datetime(2017, 11, 25, 10, 0, 0),
    ]
    assert inter["session_id"].null_count() == 4
    products = read_table(out, "products")
    assert products["product_id"].to_list() == ["100", "101", "102"]
    assert products["group_id"].to_list() == ["100", "101", "102"]
    users = read_table(out, "users")
    # Every raw event with a user counts, of interest or not (user 3's only event had a broken time).
    assert users.select("user_id", "n_events").rows() == [("1", 3), ("2", 3), ("3", 1)]
    assert users["first_seen"][0] == datetime(2017, 11, 24, 17, 21, 10)
    assert not users["age_imputed"].any()
    assert report.tables["users"]["without_interactions"] == 1
    bad = quarantined(out, "interactions").sort("reason")
    assert bad.select("reason", "row", "user_id", "timestamp").rows() == [
        ("bad_timestamp", "7", "3", "yesterday"),
        ("malformed_csv_row", bad["row"][1], None, None),
        ("missing_user_id", "8", None, "1511600000"),
    ]
    assert bad["raw_text"][1] == "4,106,9,pv"


CAMPUS_MAPPING = EventsCsvSettings(
    user="session_id", item="product_id", event="event_name", timestamp="event_time", session="session_id"
)
CAMPUS = """
"session_id","event_name","event_time","product_id","quantity",""
"s1","HOMEPAGE","2019-09-06T15:54:32.821085Z","","",""
"s1","ITEM_DETAIL","2019-09-06T15:55:00.000001Z","15970","",""
"s1","ADD_TO_CART","2019-09-06T15:56:00Z","15970","1",""
"s1","BOOKING","2019-09-06T15:57:00Z","","",""
"s2","CLICK","2019-09-07 10:00:00","39386","",""
"s2","ADD_TO_CART","not a time","39386","1",""
"""
CAMPUS_MORE = """
"session_id","event_name","event_time","product_id","quantity",""
"s1","ADD_TO_CART","2019-09-06T15:56:00Z","15970","1",""
"s3","BOOKING","2019-09-08T08:00:00Z","59263","2",""
"""


def test_events_csv_clickstream_two_files(tmp_path: Path) -> None:
    first = write(tmp_path / "click_stream.csv", CAMPUS)
    second = write(tmp_path / "click_stream_2.csv", CAMPUS_MORE)
    out = tmp_path / "out"
    report = ingest("events-csv", [first, second], out, settings_with(events_csv=CAMPUS_MAPPING))
    assert report.to_dict()["reconciles"]
    one = file_counts(report, "click_stream.csv")
    assert (one["rows_read"], one["rows_kept"], one["rows_quarantined"], one["rows_filtered_out"]) == (
        6,
        3,
        2,
        1,
    )
    assert one["quarantined_by_reason"] == {"bad_timestamp": 1, "no_product_id": 1}
    assert one["filtered_out_by_reason"] == {"event_not_of_interest": 1}
    two = file_counts(report, "click_stream_2.csv")
    assert two["filtered_out_by_reason"] == {"duplicate": 1}  # a repeat of a row of the first file
    assert two["rows_kept"] == 1
    inter = read_table(out, "interactions")
    assert inter.select("user_id", "product_id", "session_id", "kind").rows() == [
        ("s1", "15970", "s1", "view"),
        ("s1", "15970", "s1", "bag"),
        ("s2", "39386", "s2", "click"),
        ("s3", "59263", "s3", "purchase"),
    ]
    assert inter["timestamp"][0] == datetime(2019, 9, 6, 15, 55, 0, 1)
    assert read_table(out, "users").select("user_id", "n_events").rows() == [("s1", 5), ("s2", 2), ("s3", 1)]
    assert read_table(out, "products")["product_id"].to_list() == ["15970", "39386", "59263"]


def test_events_csv_quarantine_keeps_columns_only_a_later_file_has(tmp_path: Path) -> None:
    first = write(tmp_path / "log_1.csv", "user_id,item_id,event,timestamp\nu1,i1,view,1694000000\n")
    second = write(
        tmp_path / "log_2.csv",
        "user_id,item_id,event,timestamp,referrer\nu2,,view,1694000100,newsletter\nu2,i2,view,1694000200,ad\n",
    )
    out = tmp_path / "out"
    report = ingest("events-csv", [first, second], out, Settings())
    assert report.to_dict()["reconciles"]
    quarantined = pl.read_csv(out / "quarantine" / "interactions.csv", infer_schema=False)
    assert quarantined.select("reason", "user_id", "referrer").rows() == [
        ("no_product_id", "u2", "newsletter")
    ]


def test_events_csv_missing_column_and_folder(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", "user_id,item_id,event\nu,i,view\n")
    with pytest.raises(InputError, match="missing required column 'timestamp'"):
        ingest("events-csv", [path], tmp_path / "out", Settings())
    with pytest.raises(InputError, match="is a folder"):
        ingest("events-csv", [tmp_path], tmp_path / "out2", Settings())


def test_events_csv_without_event_or_time_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "views.tsv", "who\twhat\nu1\ti1\nu1\ti2\n")
    mapping = EventsCsvSettings(user="who", item="what", event=None, timestamp=None, delimiter="\t")
    out = tmp_path / "out"
    report = ingest("events-csv", [path], out, settings_with(events_csv=mapping))
    assert file_counts(report, "views.tsv")["rows_kept"] == 2
    inter = read_table(out, "interactions")
    assert inter["kind"].to_list() == ["view", "view"]
    assert inter["timestamp"].null_count() == 2


# ---------------------------------------------------------------------------------------------- baskets


def test_baskets(tmp_path: Path) -> None:
    path = tmp_path / "retail.dat"
    path.write_bytes(b"1 2 3\n\n2 2 5 2\n   \n7\t8  9\r\n10")
    out = tmp_path / "out"
    report = ingest("baskets", [path], out, Settings())
    assert report.to_dict()["reconciles"]
    counts = file_counts(report, "retail.dat")
    assert (counts["rows_read"], counts["rows_kept"], counts["rows_filtered_out"]) == (6, 4, 2)
    assert counts["filtered_out_by_reason"] == {"empty_basket": 2}
    assert report.tables["interactions"]["repeated_items_dropped"] == 2
    inter = read_table(out, "interactions")
    assert inter.select("user_id", "product_id").rows() == [
        ("basket-1", "1"),
        ("basket-1", "2"),
        ("basket-1", "3"),
        ("basket-3", "2"),
        ("basket-3", "5"),
        ("basket-5", "7"),
        ("basket-5", "8"),
        ("basket-5", "9"),
        ("basket-6", "10"),
    ]
    assert inter["session_id"].to_list() == inter["user_id"].to_list()
    assert inter["timestamp"].null_count() == inter["event_name"].null_count() == 9
    assert set(inter["kind"]) == {"purchase"} and set(inter["weight"]) == {5.0}
    users = read_table(out, "users").sort("user_id")
    assert users.select("user_id", "n_events").rows() == [
        ("basket-1", 3),
        ("basket-3", 4),
        ("basket-5", 3),
        ("basket-6", 1),
    ]
    products = read_table(out, "products")
    assert sorted(products["product_id"].to_list()) == ["1", "10", "2", "3", "5", "7", "8", "9"]


def test_baskets_several_files(tmp_path: Path) -> None:
    a = write(tmp_path / "a.dat", "1 2\n3\n")
    b = write(tmp_path / "b.dat", "2 3\n")
    out = tmp_path / "out"
    ingest("baskets", [a, b], out, Settings())
    assert sorted(set(read_table(out, "interactions")["user_id"])) == ["a-1", "a-2", "b-1"]
    assert read_table(out, "products").height == 3
    with pytest.raises(InputError, match="distinct names"):
        ingest("baskets", [a, write(tmp_path / "x" / "a.dat", "1\n")], tmp_path / "out2", Settings())
