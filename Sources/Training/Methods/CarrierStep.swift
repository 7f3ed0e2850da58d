import Numerics
import Privacy
import RGP
import Transformer

/// The step RGP and its non-private low-rank variant share: carriers by power iteration, per-example carrier and
/// head gradients into one flat buffer, the privacy engine's clip → sum → (noise) → ÷B, reconstruction, Adam.
final class CarrierStep {
    let context: MethodContext
    let carriers: CarrierSet
    /// W − W₀ for the history carriers, shared by every group.
    let carrierScratch = GrowingBuffer()
    /// Segments: every carrier group (scale 1), then the head (scale `headScale`), then the audit's canary slice when
    /// the run is audited.
    let layout: FlatLayout
    /// The flat sum [D]; each group's `sum` and `headSum` are views into it.
    let sum: Tensor
    let headSum: Tensor
    let perExample = GrowingBuffer()
    /// Per group, per member: the weight and its name (Adam's key), resolved once.
    let members: [[(name: String, weight: Tensor)]]
    let trainableNames: [String]
    let emptyGradients: BertParameters

    init(context: MethodContext) throws {
        self.context = context
        let c = context.configuration
        // Rank r carriers of a p×d matrix need r ≤ min(p, d) (LAPACK's QR would reject it mid-run).
        let smallest = LinearSite.allCases.map { let s = $0.shape(context.config); return Swift.min(s.rows, s.columns) }.min() ?? 0
        guard c.rank <= smallest else {
            throw TrainingError("--rank \(c.rank) exceeds the smallest reparametrized matrix's min(p, d) = \(smallest) of \(context.config.hiddenSize)-wide \(c.model)")
        }
        carriers = CarrierSet(config: context.config, rank: c.rank, fusedQKV: c.fusedQKV)
        layout = context.engine.layout(carriers.groups.map { FlatSegment(size: $0.perExampleSize) }
                                       + [FlatSegment(size: context.headSize, scale: Float(c.headScale))])
        sum = Tensor(zeros: [layout.size])
        for (g, offset) in zip(carriers.groups, layout.offsets) { g.bind(sum: sum.view(offset: offset, shape: [g.perExampleSize])) }
        headSum = sum.view(offset: layout.offsets[carriers.groups.count], shape: [context.headSize])
        let parameters = context.model.parameters
        members = carriers.groups.map { g in
            g.members.map { site in
                let name = site.name(layer: g.layer) + ".weight"
                return (name, parameters[name])
            }
        }
        let layout = BertParameters.layout(config: context.config, classes: context.classes)
        trainableNames = layout.filter { $0.group == .encoderWeights || $0.group == .classifier }.map(\.name)
        emptyGradients = BertParameters(config: context.config, classes: context.classes, groups: [])
        _ = perExample.reserve(context.largestMicroBatch * self.layout.size)
    }

    func step(_ indices: [Int], step: Int) -> Double {
        let c = context.configuration, model = context.model, engine = context.engine
        var carrierRandom = Xoshiro256(seed: context.seed(step: step, salt: 1))
        for g in carriers.groups {
            g.computeCarriers(parameters: model.parameters, initial: context.initial, source: c.carrierSource,
                              iterations: c.powerIterations, generator: &carrierRandom, scratch: carrierScratch)
        }
        sum.zero()
        var lossSum = 0.0
        let groups = carriers.groups, headOffset = layout.offsets[groups.count]
        for micro in context.beginStep(indices, step: step) {
            let (loss, dlogits) = context.forwardLoss(micro, scale: 1)
            lossSum += loss
            let ws = model.workspace!
            let b = ws.batchSize
            let block = perExample.reserve(b * layout.size)
            for (g, offset) in zip(groups, layout.offsets) {
                g.beginMicroBatch(examples: b, tokens: ws.tokens, perExample: block.view(offset: b * offset, shape: [b * g.perExampleSize]))
            }
            let carriers = self.carriers
            model.backward(dlogits: dlogits, gradients: emptyGradients) { site, layer, x, delta, rows in
                carriers.group(layer: layer, site: site).accumulate(site: site, input: x, outputGradient: delta, rows: rows)
            }
            context.headGradients(dlogits: dlogits, input: ws.headInput.data, examples: b, into: block.data + b * headOffset)
            engine.accumulate(block.data, examples: b, layout: layout, into: sum.data)
        }
        engine.release(sum.data, layout: layout, step: step)
        context.adam.beginStep()
        let lr = context.learningRate(step: step)
        for (g, members) in zip(groups, members) {
            // ΔW = A·R + L·∂R formed a row at a time inside Adam's pass over W, never stored.
            for (member, factors) in zip(members, g.reconstructionFactors(c.reconstruction)) {
                context.adam.update(member.name, parameter: member.weight, gradient: factors, learningRate: lr)
            }
        }
        context.updateHead(gradient: headSum.data, learningRate: lr)
        return lossSum / Double(Swift.max(1, indices.count))
    }
}
