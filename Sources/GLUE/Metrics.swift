/// GLUE's metrics on predicted and true class ids.
public enum Metrics {
    /// Fraction of predictions equal to the label, in [0, 1]; 0 for no examples.
    public static func accuracy(predictions: [Int], labels: [Int]) -> Double {
        precondition(predictions.count == labels.count)
        guard !labels.isEmpty else { return 0 }
        return Double(zip(predictions, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }

    /// F1 of class `positive` (QQP reports it for class 1, "duplicate"); 0 when it is never predicted nor present.
    public static func f1(predictions: [Int], labels: [Int], positive: Int = 1) -> Double {
        precondition(predictions.count == labels.count)
        var truePositive = 0, falsePositive = 0, falseNegative = 0
        for (p, l) in zip(predictions, labels) {
            if p == positive && l == positive { truePositive += 1 }
            else if p == positive { falsePositive += 1 }
            else if l == positive { falseNegative += 1 }
        }
        let denominator = 2 * truePositive + falsePositive + falseNegative
        return denominator == 0 ? 0 : Double(2 * truePositive) / Double(denominator)
    }
}
