import Foundation

/// A token that passed every check: who it names, and until when it may be used.
public struct VerifiedToken: Sendable, Equatable {
    public var identity: ClientIdentity
    /// The token's `exp`. A connection opened with it is closed with 4003 once this plus the
    /// leeway has passed, unless a `refresh` extended it.
    public var expiresAt: Date

    public init(identity: ClientIdentity, expiresAt: Date) {
        self.identity = identity
        self.expiresAt = expiresAt
    }
}
