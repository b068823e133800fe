import { KubeConfig } from '@kubernetes/client-node';
import { startKubernetesSimulator, type KubernetesSimulator } from './kubernetes-simulator.js';

/** A simulator and a client-node KubeConfig for it, loaded from a kubeconfig document like a file would be. */
export async function startKubernetesFixture(): Promise<{ sim: KubernetesSimulator; kubeConfigFor: (token?: string) => KubeConfig }> {
  const sim = await startKubernetesSimulator();
  const kubeConfigFor = (token?: string): KubeConfig => {
    const config = new KubeConfig();
    config.loadFromString(sim.kubeconfig(token === undefined ? {} : { token }));
    return config;
  };
  return { sim, kubeConfigFor };
}
