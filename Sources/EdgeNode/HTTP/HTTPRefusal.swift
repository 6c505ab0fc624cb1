import Foundation
import HeraldProtocol
import NIOHTTP1

/// An HTTP error answer: a status and a JSON body `{"error": code, "message": text}`.
struct HTTPRefusal: Error, Sendable, Equatable {
    var status: HTTPResponseStatus
    var code: ErrorCode
    var message: String
    /// Seconds after which a retry may succeed (`Retry-After`), for refusals that are temporary.
    var retryAfter: Int?

    init(status: HTTPResponseStatus, code: ErrorCode, message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    init(_ error: AuthenticationError) {
        self.init(status: .init(statusCode: error.httpStatus), code: error.errorCode, message: error.description)
    }

    var body: [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: ["error": code.rawValue, "message": message], options: [.sortedKeys])) ?? Data())
    }
}
