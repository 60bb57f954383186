//! Graph algorithms on steps: cycles (named in full), stages, and who depends on whom.

use fixedbitset::FixedBitSet;
use petgraph::graph::{DiGraph, NodeIndex};

/// Steps as written (before `for_each` expansion): `needs[i]` lists the steps step `i` needs,
/// in the order written, with the position of each mention in the list.
pub struct StepGraph<'a> {
    pub needs: &'a [Vec<(usize, usize)>],
}

/// Whether one step depends, directly or transitively, on another: the question every
/// `steps.X` reference asks. A set of ancestors per step (what this was) costs n² bits:
/// 1.25 GB at 100,000 steps. Instead each question walks back from the reader along
/// `needs`, never below the target's place in the topological order (nothing there can lead
/// to it), which for the usual reference (a need, or a few steps back) is a handful of nodes.
/// A target the walks keep going far for (a step read by everything after it) gets its set of
/// descendants computed once and kept, up to [`Ancestry::KEPT`] of them.
#[derive(Clone)]
pub struct Ancestry {
    needs: Vec<Vec<usize>>,
    dependants: Vec<Vec<usize>>,
    position: Vec<usize>,
    descendants: std::collections::HashMap<usize, FixedBitSet>,
    /// Per-walk visited marks: the walk number that last saw each step.
    seen: Vec<u32>,
    walk: u32,
}

impl Ancestry {
    /// Targets whose descendants are kept (each n bits).
    const KEPT: usize = 256;
    /// A walk that visits more than this many steps makes its target worth keeping.
    const FAR: usize = 64;

    fn new(needs: &[Vec<(usize, usize)>], order: &[usize]) -> Self {
        let n = needs.len();
        let mut position = vec![0; n];
        for (i, &step) in order.iter().enumerate() {
            position[step] = i;
        }
        let mut dependants = vec![Vec::new(); n];
        let needs: Vec<Vec<usize>> = needs
            .iter()
            .enumerate()
            .map(|(step, list)| {
                list.iter()
                    .map(|&(need, _)| {
                        dependants[need].push(step);
                        need
                    })
                    .collect()
            })
            .collect();
        Self {
            needs,
            dependants,
            position,
            descendants: std::collections::HashMap::new(),
            seen: vec![0; n],
            walk: 0,
        }
    }

    /// Whether `step` depends on `target` (not itself).
    pub fn depends_on(&mut self, step: usize, target: usize) -> bool {
        if step == target || self.position[target] >= self.position[step] {
            return false;
        }
        if self.needs[step].contains(&target) {
            return true;
        }
        if let Some(set) = self.descendants.get(&target) {
            return set.contains(step);
        }
        let (found, visited) = self.walk_back(step, target);
        if visited > Self::FAR && self.descendants.len() < Self::KEPT {
            let set = self.descendants_of(target);
            self.descendants.insert(target, set);
        }
        found
    }

    /// Walks from `step` back along `needs`; returns whether `target` was reached and how
    /// many steps were visited.
    fn walk_back(&mut self, step: usize, target: usize) -> (bool, usize) {
        self.walk = self.walk.wrapping_add(1);
        if self.walk == 0 {
            self.seen.fill(0);
            self.walk = 1;
        }
        let floor = self.position[target];
        let mut stack = vec![step];
        let mut visited = 0;
        while let Some(node) = stack.pop() {
            visited += 1;
            for &need in &self.needs[node] {
                if need == target {
                    return (true, visited);
                }
                if self.position[need] > floor && self.seen[need] != self.walk {
                    self.seen[need] = self.walk;
                    stack.push(need);
                }
            }
        }
        (false, visited)
    }

    fn descendants_of(&self, target: usize) -> FixedBitSet {
        let mut set = FixedBitSet::with_capacity(self.needs.len());
        let mut stack = vec![target];
        while let Some(node) = stack.pop() {
            for &d in &self.dependants[node] {
                if !set.put(d) {
                    stack.push(d);
                }
            }
        }
        set
    }
}

impl StepGraph<'_> {
    /// Every cycle, one per strongly connected component, each as the list of steps along
    /// `needs` back to its start, plus which mention (step, position in its written `needs`)
    /// closes it.
    pub fn cycles(&self) -> Vec<(Vec<usize>, (usize, usize))> {
        let n = self.needs.len();
        let mut graph = DiGraph::<(), ()>::with_capacity(n, n);
        let nodes: Vec<NodeIndex> = (0..n).map(|_| graph.add_node(())).collect();
        for (step, needs) in self.needs.iter().enumerate() {
            for &(need, _) in needs {
                graph.add_edge(nodes[step], nodes[need], ());
            }
        }
        let mut cycles = Vec::new();
        for component in petgraph::algo::tarjan_scc(&graph) {
            let mut members: Vec<usize> = component.iter().map(|i| i.index()).collect();
            members.sort_unstable();
            let start = members[0];
            let self_loop = self.needs[start].iter().any(|&(need, _)| need == start);
            if members.len() == 1 && !self_loop {
                continue;
            }
            if let Some(cycle) = self.shortest_cycle(start, &members) {
                cycles.push(cycle);
            }
        }
        cycles.sort_by_key(|(path, _)| path[0]);
        cycles
    }

    /// Breadth-first from `start` along `needs`, inside the component, back to `start`.
    fn shortest_cycle(
        &self,
        start: usize,
        members: &[usize],
    ) -> Option<(Vec<usize>, (usize, usize))> {
        let mut parent: Vec<Option<usize>> = vec![None; self.needs.len()];
        let mut queue = std::collections::VecDeque::from([start]);
        let mut seen = FixedBitSet::with_capacity(self.needs.len());
        seen.insert(start);
        while let Some(step) = queue.pop_front() {
            for &(need, written) in &self.needs[step] {
                if need == start {
                    let mut path = vec![step];
                    while let Some(p) = parent[*path.last()?] {
                        path.push(p);
                    }
                    path.reverse();
                    path.push(start);
                    return Some((path, (step, written)));
                }
                if members.binary_search(&need).is_ok() && !seen.put(need) {
                    parent[need] = Some(step);
                    queue.push_back(need);
                }
            }
        }
        None
    }

    /// Answers "does step `s` depend on step `t`" for template references (see [`Ancestry`]).
    pub fn ancestry(&self, order: &[usize]) -> Ancestry {
        Ancestry::new(self.needs, order)
    }

    /// Steps ordered so that each comes after everything it needs (declaration order among
    /// independent steps). Only called on an acyclic graph.
    pub fn topological_order(&self) -> Vec<usize> {
        let n = self.needs.len();
        let mut dependants = vec![Vec::new(); n];
        let mut waiting: Vec<usize> = vec![0; n];
        for (step, needs) in self.needs.iter().enumerate() {
            for &(need, _) in needs {
                dependants[need].push(step);
                waiting[step] += 1;
            }
        }
        let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
            .filter(|&s| waiting[s] == 0)
            .map(std::cmp::Reverse)
            .collect();
        let mut order = Vec::with_capacity(n);
        while let Some(std::cmp::Reverse(step)) = ready.pop() {
            order.push(step);
            for &d in &dependants[step] {
                waiting[d] -= 1;
                if waiting[d] == 0 {
                    ready.push(std::cmp::Reverse(d));
                }
            }
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(needs: &[&[usize]]) -> Vec<Vec<(usize, usize)>> {
        needs
            .iter()
            .map(|n| n.iter().map(|&x| (x, 0)).collect())
            .collect()
    }

    #[test]
    fn names_the_whole_cycle() {
        // a needs c, b needs a, c needs b: a -> c -> b -> a
        let needs = graph(&[&[2], &[0], &[1]]);
        let cycles = StepGraph { needs: &needs }.cycles();
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].0, vec![0, 2, 1, 0]);
        assert_eq!(cycles[0].1, (1, 0));
    }

    #[test]
    fn self_need_is_a_cycle_and_a_dag_has_none() {
        let needs = graph(&[&[0]]);
        assert_eq!(StepGraph { needs: &needs }.cycles()[0].0, vec![0, 0]);
        let needs = graph(&[&[], &[0], &[0, 1]]);
        assert!(StepGraph { needs: &needs }.cycles().is_empty());
    }

    #[test]
    fn ancestry_is_transitive() {
        let needs = graph(&[&[], &[0], &[1], &[]]);
        let g = StepGraph { needs: &needs };
        let mut ancestry = g.ancestry(&g.topological_order());
        assert!(ancestry.depends_on(2, 0) && ancestry.depends_on(2, 1));
        assert!(!ancestry.depends_on(2, 3));
        assert!(!ancestry.depends_on(0, 0));
        assert!(!ancestry.depends_on(0, 2));
    }

    /// A long chain read far back from every step: the answers of the kept sets of
    /// descendants agree with the walks'.
    #[test]
    fn far_references_agree_with_walks() {
        let n = 300;
        let lists: Vec<Vec<usize>> = (0..n)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
        let refs: Vec<&[usize]> = lists.iter().map(Vec::as_slice).collect();
        let needs = graph(&refs);
        let g = StepGraph { needs: &needs };
        let mut ancestry = g.ancestry(&g.topological_order());
        for step in 0..n {
            for target in [0, step / 2, step.saturating_sub(1)] {
                assert_eq!(
                    ancestry.depends_on(step, target),
                    target < step,
                    "{step} {target}"
                );
            }
        }
        assert!(!ancestry.descendants.is_empty());
    }
}
