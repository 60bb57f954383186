//! Graph algorithms on steps: cycles (named in full), stages, and who depends on whom.

use fixedbitset::FixedBitSet;
use petgraph::graph::{DiGraph, NodeIndex};

/// Steps as written (before `for_each` expansion): `needs[i]` lists the steps step `i` needs,
/// in the order written, with the position of each mention in the list.
pub struct StepGraph<'a> {
    pub needs: &'a [Vec<(usize, usize)>],
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

    /// For each step, the set of steps it depends on directly or transitively.
    /// Computed once in topological order: each set is the union of its needs' sets, which
    /// keeps 10,000 steps to a few milliseconds where a search per reference would not.
    pub fn ancestors(&self, order: &[usize]) -> Vec<FixedBitSet> {
        let n = self.needs.len();
        let mut sets = vec![FixedBitSet::with_capacity(n); n];
        for &step in order {
            let mut set = FixedBitSet::with_capacity(n);
            for &(need, _) in &self.needs[step] {
                set.insert(need);
                set.union_with(&sets[need]);
            }
            sets[step] = set;
        }
        sets
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
    fn ancestors_are_transitive() {
        let needs = graph(&[&[], &[0], &[1], &[]]);
        let g = StepGraph { needs: &needs };
        let sets = g.ancestors(&g.topological_order());
        assert!(sets[2].contains(0) && sets[2].contains(1));
        assert!(!sets[2].contains(3));
        assert!(!sets[0].contains(0));
    }
}
