import Foundation

/// The shading model of the renderer, in linear RGB (encoded to sRGB-like gamma 2.2 at the end):
/// a disc key light with inverse-square falloff and soft shadows from shadow rays to points on the disc,
/// a shadowless fill light, a sky/ground ambient term darkened by a sphere-based ambient occlusion
/// estimate (contact shadows), gray matte ground. Rubber: diffuse and a faint broad sheen. Metal:
/// darker diffuse, a sharp white highlight, and a one-bounce reflection of the scene tinted by the
/// object's colour.
struct SceneTracer {
    let primitives: [Primitive]
    let albedos: [Vector3]
    let isMetal: [Bool]
    /// Ambient-occlusion radius of each object (its footprint radius).
    let occluderRadii: [Float]
    let light: CLEVRLight
    let lightU: Vector3, lightV: Vector3
    /// Squared distance from the key light to the origin, where the light has unit strength.
    let referenceDistanceSquared: Float

    static let groundAlbedo = Vector3(0.36, 0.36, 0.36)
    static let skyColor = Vector3(0.45, 0.45, 0.47)
    static let fillDirection = Vector3(-0.55, -0.45, 0.70).normalized
    static let keyStrength: Float = 1.1
    static let fillStrength: Float = 0.15
    static let skyAmbient: Float = 0.19
    static let groundAmbient: Float = 0.10
    static let epsilon: Float = 1e-3

    init(scene: CLEVRScene) {
        primitives = scene.objects.map(Primitive.init)
        albedos = scene.objects.map(\.color.albedo)
        isMetal = scene.objects.map { $0.material == .metal }
        occluderRadii = scene.objects.map(\.size.radius)
        light = scene.keyLight
        let w = (-scene.keyLight.position).normalized
        lightU = w.cross(Vector3(0, 0, 1)).normalized
        lightV = w.cross(lightU)
        referenceDistanceSquared = scene.keyLight.position.dot(scene.keyLight.position)
    }

    /// The nearest surface along the ray (objects and the ground plane z = 0), or a miss.
    @inline(__always)
    func nearest(_ origin: Vector3, _ direction: Vector3, _ tMax: Float) -> RayHit {
        var best = RayHit(t: tMax, normal: .zero, object: RayHit.missIndex)
        if direction.z < 0 {
            let t = -origin.z / direction.z
            if t > SceneTracer.epsilon && t < best.t { best = RayHit(t: t, normal: Vector3(0, 0, 1), object: RayHit.groundIndex) }
        }
        for i in 0..<primitives.count {
            if let hit = primitives[i].intersect(origin, direction, SceneTracer.epsilon, best.t) {
                best = RayHit(t: hit.t, normal: hit.normal, object: i)
            }
        }
        return best
    }

    /// Whether any object blocks the segment origin → origin + distance · direction.
    @inline(__always)
    func occluded(_ origin: Vector3, _ direction: Vector3, _ distance: Float) -> Bool {
        for i in 0..<primitives.count where primitives[i].intersect(origin, direction, SceneTracer.epsilon, distance) != nil {
            return true
        }
        return false
    }

    /// The key light's strength at squared distance `distance2`, 1 at the scene's centre: inverse distance
    /// (gentler than a point light's inverse square, close to what a large area light gives at this range).
    @inline(__always)
    func falloff(_ distance2: Float) -> Float { (referenceDistanceSquared / distance2).squareRoot() }

    /// A point on the key light's disc for two uniform numbers (angle stratum already folded in).
    @inline(__always)
    func lightPoint(_ angle: Float, _ radial: Float) -> Vector3 {
        let r = light.radius * radial.squareRoot()
        return light.position + lightU * (r * cos(angle)) + lightV * (r * sin(angle))
    }

    /// 1 minus the share of the sky hidden by nearby objects, each taken as a sphere of its footprint radius.
    @inline(__always)
    func ambientOcclusion(_ point: Vector3, _ normal: Vector3, skip: Int) -> Float {
        var occlusion: Float = 0
        for i in 0..<primitives.count where i != skip {
            let v = primitives[i].center - point
            let d2 = v.dot(v)
            let cosine = normal.dot(v) / d2.squareRoot()
            if cosine > 0 { occlusion += cosine * occluderRadii[i] * occluderRadii[i] / d2 }
        }
        return max(0.25, 1 - 0.75 * occlusion)
    }

    /// The linear colour seen along one primary ray. Its `shadowRays` points on the light take angle
    /// strata `stratum · shadowRays + k` of `strata · shadowRays` (so a pixel's samples spread over the
    /// whole disc), jittered by `noise`.
    func shade(_ origin: Vector3, _ direction: Vector3, noise: UInt64, stratum: Int, strata: Int, shadowRays: Int) -> Vector3 {
        let hit = nearest(origin, direction, 1e4)
        if hit.object == RayHit.missIndex { return SceneTracer.skyColor }
        let point = origin + direction * hit.t
        let n = hit.normal
        let albedo = hit.object >= 0 ? albedos[hit.object] : SceneTracer.groundAlbedo
        let metal = hit.object >= 0 && isMetal[hit.object]
        let lifted = point + n * SceneTracer.epsilon

        // Key light: average over points on the disc; each sample checks its own shadow ray. The highlight
        // uses the disc's centre, scaled by the share of unshadowed samples (smooth, not speckled).
        var diffuse: Float = 0, visible: Float = 0
        let angleStep = 2 * Float.pi / Float(strata * shadowRays)
        for k in 0..<shadowRays {
            let (jitter, radial) = PixelHash.uniformPair(PixelHash.mix(noise, UInt64(k), 0x5EED))
            let toLight = lightPoint(angleStep * (Float(stratum * shadowRays + k) + jitter), radial) - point
            let distance2 = toLight.dot(toLight)
            let distance = distance2.squareRoot()
            let l = toLight * (1 / distance)
            let cosine = n.dot(l)
            if cosine <= 0 || occluded(lifted, l, distance) { continue }
            diffuse += cosine * falloff(distance2)
            visible += 1
        }
        let share = 1 / Float(shadowRays)
        diffuse *= share * SceneTracer.keyStrength
        var specular: Float = 0
        if visible > 0 {
            let toCentre = light.position - point
            let distance2 = toCentre.dot(toCentre)
            let halfway = (toCentre * (1 / distance2.squareRoot()) - direction).normalized
            specular = pow(max(0, n.dot(halfway)), metal ? 60 : 12) * falloff(distance2) * visible * share * SceneTracer.keyStrength
        }

        let ao = ambientOcclusion(point, n, skip: hit.object)
        let ambient = (SceneTracer.skyAmbient * (0.5 + 0.5 * n.z) + SceneTracer.groundAmbient * (0.5 - 0.5 * n.z)
            + SceneTracer.fillStrength * max(0, n.dot(SceneTracer.fillDirection))) * ao
        if !metal {
            let sheen = hit.object >= 0 ? 0.06 * specular : 0
            return albedo * (diffuse + ambient) + Vector3(sheen, sheen, sheen)
        }
        // Metal: the reflected scene, tinted by the object's colour, over a darker diffuse base.
        let reflected = direction - n * (2 * direction.dot(n))
        let mirror = reflection(lifted, reflected)
        let tint = albedo * 0.8 + Vector3(0.2, 0.2, 0.2)
        let highlight = 1.3 * specular
        return albedo * ((diffuse + ambient) * 0.35) + mirror * tint * 0.7 + Vector3(highlight, highlight, highlight)
    }

    /// What a metal surface mirrors: the first surface along the reflected ray, lit without shadows.
    private func reflection(_ origin: Vector3, _ direction: Vector3) -> Vector3 {
        let hit = nearest(origin, direction, 1e4)
        if hit.object == RayHit.missIndex { return SceneTracer.skyColor }
        let point = origin + direction * hit.t
        let albedo = hit.object >= 0 ? albedos[hit.object] : SceneTracer.groundAlbedo
        let toLight = light.position - point
        let distance2 = toLight.dot(toLight)
        let cosine = max(0, hit.normal.dot(toLight) / distance2.squareRoot())
        let lit = cosine * SceneTracer.keyStrength * falloff(distance2)
            + SceneTracer.skyAmbient * (0.5 + 0.5 * hit.normal.z) + SceneTracer.groundAmbient * (0.5 - 0.5 * hit.normal.z)
        return albedo * lit
    }
}
