// The bench page's entry (index.html beside it); the playground's is src/main.tsx.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BenchPage } from './BenchPage.tsx';
import '../../src/ui/styles.css';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <BenchPage />
  </StrictMode>,
);
