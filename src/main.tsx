import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './ui/App.tsx';
import { bootEngine } from './ui/engine/boot.ts';
import { PromptSetPage } from './ui/PromptSetPage.tsx';
import './ui/styles.css';

// ?view=prompts: the prompt-set editor on its own (no engine); anything else is the playground. The benchmark page
// is a build of its own (bench/browser/).
const view = new URLSearchParams(location.search).get('view');
const page = view === 'prompts' ? <PromptSetPage /> : <App />;
// The playground's engine worker starts before the first render: it boots its backend while React draws the page.
if (view !== 'prompts') void bootEngine();

createRoot(document.getElementById('root')!).render(<StrictMode>{page}</StrictMode>);
