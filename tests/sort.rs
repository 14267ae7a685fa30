//! SORT across shards: BY and GET patterns name keys that live on other
//! shards than the source, and STORE writes to yet another; the result must
//! be the same on 1, 2 and 4 shards.

mod common;

use common::for_each_shard_count;

#[test]
fn sort_by_and_get_patterns_across_shards() {
    for_each_shard_count(&[], |server| {
        let mut raw = server.raw();
        for (i, id) in ["3", "1", "2"].iter().enumerate() {
            raw.call(&[b"RPUSH", b"ids", id.as_bytes()]);
            // Weights invert the natural order; names live in hashes.
            let weight = (10 - i).to_string();
            raw.call(&[b"SET", format!("weight_{id}").as_bytes(), weight.as_bytes()]);
            raw.call(&[
                b"HSET",
                format!("user_{id}").as_bytes(),
                b"name",
                format!("n{id}").as_bytes(),
            ]);
        }
        assert_eq!(raw.call(&[b"SORT", b"ids"]), b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n");
        // weight_3=10, weight_1=9, weight_2=8: ascending by weight is 2 1 3.
        assert_eq!(
            raw.call(&[
                b"SORT",
                b"ids",
                b"BY",
                b"weight_*",
                b"GET",
                b"#",
                b"GET",
                b"user_*->name"
            ]),
            b"*6\r\n$1\r\n2\r\n$2\r\nn2\r\n$1\r\n1\r\n$2\r\nn1\r\n$1\r\n3\r\n$2\r\nn3\r\n"
        );
        assert_eq!(
            raw.call(&[
                b"SORT",
                b"ids",
                b"BY",
                b"weight_*",
                b"DESC",
                b"LIMIT",
                b"0",
                b"2",
                b"STORE",
                b"out"
            ]),
            b":2\r\n"
        );
        assert_eq!(
            raw.call(&[b"LRANGE", b"out", b"0", b"-1"]),
            b"*2\r\n$1\r\n3\r\n$1\r\n1\r\n"
        );
        assert_eq!(
            raw.call(&[b"SORT", b"ids", b"GET", b"missing_*"]),
            b"*3\r\n$-1\r\n$-1\r\n$-1\r\n"
        );
        raw.call(&[b"RPUSH", b"words", b"b", b"a"]);
        assert_eq!(
            raw.call(&[b"SORT", b"words"]),
            b"-ERR One or more scores can't be converted into double\r\n"
        );
        assert_eq!(
            raw.call(&[b"SORT", b"words", b"ALPHA"]),
            b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
        );
        assert_eq!(
            raw.call(&[b"SORT_RO", b"ids", b"STORE", b"x"]),
            b"-ERR syntax error\r\n"
        );
        // An empty result deletes the destination.
        assert_eq!(raw.call(&[b"SORT", b"nolist", b"STORE", b"out"]), b":0\r\n");
        assert_eq!(raw.call(&[b"EXISTS", b"out"]), b":0\r\n");
    });
}
