import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './ui/App.tsx';
import { BenchPage } from './ui/BenchPage.tsx';
import { PromptSetPage } from './ui/PromptSetPage.tsx';
import './ui/styles.css';

// ?view=prompts: the prompt-set editor on its own (no engine); ?view=bench: the benchmark page (its own worker);
// anything else is the playground.
const view = new URLSearchParams(location.search).get('view');
const page = view === 'prompts' ? <PromptSetPage /> : view === 'bench' ? <BenchPage /> : <App />;

createRoot(document.getElementById('root')!).render(<StrictMode>{page}</StrictMode>);
