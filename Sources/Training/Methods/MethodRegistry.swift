/// Every training method the suite knows. Adding a method: one file under Methods/ and one line here.
public enum MethodRegistry {
    nonisolated(unsafe) public static let methods: [any TrainingMethodPlugin.Type] = [
        FullFineTuning.self,
        LowRankFineTuning.self,
        DPSGD.self,
        RGPFineTuning.self,
        DPHeadOnly.self,
    ]

    static func plugin(_ method: TrainingMethod) -> any TrainingMethodPlugin.Type {
        guard let plugin = methods.first(where: { $0.description.name == method }) else {
            preconditionFailure("method \(method.rawValue) is not registered")
        }
        return plugin
    }
}
