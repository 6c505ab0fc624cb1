/// A failed step of a cluster test, with a sentence that says what went wrong.
struct ClusterTestFailure: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
