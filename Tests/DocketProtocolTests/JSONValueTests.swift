import DocketProtocol
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    /// `int64` reads integer literals in range and refuses fractions, exponents and overflow.
    @Test func int64_readsOnlyIntegerLiteralsInRange() {
        #expect(JSONValue.number("42").int64 == 42)
        #expect(JSONValue.number("-9223372036854775808").int64 == .min)
        #expect(JSONValue.number("9223372036854775807").int64 == .max)
        #expect(JSONValue.number("9223372036854775808").int64 == nil)
        #expect(JSONValue.number("1.0").int64 == nil)
        #expect(JSONValue.number("1e3").int64 == nil)
        #expect(JSONValue.string("1").int64 == nil)
    }

    /// Only null, booleans, numbers and strings are scalars (and so valid request ids).
    @Test func isScalar_excludesArraysAndObjects() {
        #expect(JSONValue.null.isScalar)
        #expect(JSONValue.bool(false).isScalar)
        #expect(JSONValue.number("1").isScalar)
        #expect(JSONValue.string("").isScalar)
        #expect(!JSONValue.array([]).isScalar)
        #expect(!JSONValue.object(JSONObject()).isScalar)
    }

    /// Typed accessors return the payload of the matching case and nil otherwise.
    @Test func accessors_matchOnlyTheirCase() {
        let value: JSONValue = ["s": "x", "b": true, "a": [1], "o": ["k": .null]]
        #expect(value["s"]?.string == "x")
        #expect(value["b"]?.bool == true)
        #expect(value["a"]?.array == [.number("1")])
        #expect(value["o"]?.object?["k"] == .null)
        #expect(value["o"]?["k"]?.isNull == true)
        #expect(value["missing"] == nil)
        #expect(value["s"]?.bool == nil)
        #expect(value["b"]?.string == nil)
        #expect(JSONValue.array([])["k"] == nil)
    }

    /// Literals build the matching cases; integers become number text.
    @Test func literals_buildTheMatchingCases() {
        #expect(JSONValue(integerLiteral: -3) == .number("-3"))
        #expect(JSONValue.int(Int64(7)) == .number("7"))
        #expect(JSONValue.int(7) == .number("7"))
        #expect(JSONValue.null.isNull)
        let object: JSONValue = ["b": 1, "a": 2]
        #expect(object.object?.keys == ["b", "a"])
    }

    /// Type names read naturally in error messages.
    @Test func typeName_readsNaturally() {
        #expect(JSONValue.null.typeName == "null")
        #expect(JSONValue.bool(true).typeName == "a boolean")
        #expect(JSONValue.number("1").typeName == "a number")
        #expect(JSONValue.string("").typeName == "a string")
        #expect(JSONValue.array([]).typeName == "an array")
        #expect(JSONValue.object(JSONObject()).typeName == "an object")
    }

    /// Setting a member replaces it in place, appends a new one at the end, and nil removes it.
    @Test func objectSubscriptSet_replacesAppendsAndRemoves() {
        var object = JSONObject([("a", 1), ("b", 2)])
        object["a"] = "one"
        object["c"] = 3
        #expect(object.keys == ["a", "b", "c"])
        #expect(object["a"] == .string("one"))
        object["b"] = nil
        #expect(object.keys == ["a", "c"])
        object["zzz"] = nil
        #expect(object.keys == ["a", "c"])
    }

    /// Object equality depends on member order, as the wire text does.
    @Test func objectEquality_dependsOnOrder() {
        #expect(JSONObject([("a", 1), ("b", 2)]) == JSONObject([("a", 1), ("b", 2)]))
        #expect(JSONObject([("a", 1), ("b", 2)]) != JSONObject([("b", 2), ("a", 1)]))
        #expect(JSONObject([("a", 1)]) != JSONObject([("a", 1), ("b", 2)]))
    }

    /// Numbers compare by literal text, so `1.0` and `1` are different values.
    @Test func numbers_compareByLiteralText() {
        #expect(JSONValue.number("1.0") != JSONValue.number("1"))
    }
}
