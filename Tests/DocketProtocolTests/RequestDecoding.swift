import DocketProtocol

/// What the decoder tests share: decoding one line with given limits.
func decode(_ text: String, limits: Limits = .standard) -> Result<Request, RequestDecoder.Rejection> {
    RequestDecoder(limits: limits).decode(Array(text.utf8))
}

/// The decoded request, or a thrown rejection.
func request(_ text: String, limits: Limits = .standard) throws -> Request {
    try decode(text, limits: limits).get()
}

func operation(_ text: String, limits: Limits = .standard) throws -> Op {
    try request(text, limits: limits).operation
}

/// The rejection for `text`, or `nil` when it decodes.
func rejection(_ text: String, limits: Limits = .standard) -> RequestDecoder.Rejection? {
    guard case .failure(let rejection) = decode(text, limits: limits) else { return nil }
    return rejection
}

func quoted(_ count: Int, _ character: String = "q") -> String {
    "\"" + String(repeating: character, count: count) + "\""
}
